"""Who may receive approval links: the approvals topic's confirmed email subscriptions, each filtered to itself.

Approval links are bearer credentials, so RequestApproval sends them only where exactly one approver reads them:
an email subscription whose filter policy is ``{"approver": ["<that subscription's own address>"]}``. Any other
subscription on the approvals topic (no filter, a filter naming someone else or several people, a chat hook, a
queue) would hand one person's links to another, so its presence stops the approval instead.

Who may approve at all is the deployer's allowlist (the hub's Approvers parameter): ValidateRun refuses a run
document naming anyone else, and RequestApproval checks again (``check_allowed``), whatever its event says. Only
the approval administrators may subscribe to the topic (its policy), so a subscription is not a way onto the list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handlers.contract.errors import ApprovalChannelUnsafe

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import SubscriptionTypeDef

EMAIL_PROTOCOLS = frozenset({"email", "email-json"})


@dataclass(frozen=True)
class Recipients:
    """The approvers who will get links (address as in the run document -> the value their filter matches)."""

    reachable: dict[str, str]
    unreachable: list[str]


def allowlist(approvers: str) -> frozenset[str]:
    """The hub's approvers (its comma-separated Approvers setting), compared without case."""
    return frozenset(address.strip().lower() for address in approvers.split(",") if address.strip())


def check_allowed(approvers: Sequence[str], allowed: frozenset[str]) -> None:
    """Refuse a wave that names an approver the hub does not allow (``ApprovalChannelUnsafe``)."""
    outside = [approver for approver in approvers if approver.lower() not in allowed]
    if outside:
        raise ApprovalChannelUnsafe(
            f"the wave names approvers the hub does not allow ({', '.join(outside)}; its Approvers parameter): no "
            "links were sent"
        )


def recipients(sns: SNSClient, topic_arn: str, approvers: Sequence[str], *, minimum: int = 1) -> Recipients:
    """Which of ``approvers`` can be sent links; raises ``ApprovalChannelUnsafe`` if any link could go astray or
    fewer than ``minimum`` of them could receive one (the wave could never be approved)."""
    subscribed: dict[str, str] = {}
    pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
    for subscription in (s for page in pages for s in page["Subscriptions"]):
        arn = subscription["SubscriptionArn"]
        if not arn.startswith("arn:"):
            continue  # "PendingConfirmation" or "Deleted" (unsubscribed from an email's link): receives nothing
        attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        if attributes.get("PendingConfirmation") == "true":
            continue  # receives nothing until confirmed; checked again on the next request
        address = _own_address(subscription, attributes)
        subscribed[address.lower()] = address
    reachable = {approver: subscribed[approver.lower()] for approver in approvers if approver.lower() in subscribed}
    unreachable = [approver for approver in approvers if approver.lower() not in subscribed]
    if not reachable:
        raise ApprovalChannelUnsafe(
            f"none of the wave's approvers ({', '.join(approvers)}) has a confirmed email subscription to the "
            "approvals topic filtered to their address; see the runbook, Approvals"
        )
    if len({address.lower() for address in reachable}) < minimum:
        raise ApprovalChannelUnsafe(
            f"only {len(reachable)} of the wave's approvers ({', '.join(reachable)}) can receive links, but the hub "
            f"needs {minimum} to approve (MinimumApprovers); unreachable: {', '.join(unreachable)}"
        )
    return Recipients(reachable, unreachable)


def _own_address(subscription: SubscriptionTypeDef, attributes: Mapping[str, str]) -> str:
    """The one address this subscription may receive links for; refuses subscriptions that would leak them."""
    arn, protocol, endpoint = subscription["SubscriptionArn"], subscription["Protocol"], subscription["Endpoint"]
    problem = f"approvals topic subscription {arn} ({protocol})"
    if protocol not in EMAIL_PROTOCOLS:
        raise ApprovalChannelUnsafe(f"{problem} would receive approval links; only email subscriptions may")
    try:
        policy = json.loads(attributes.get("FilterPolicy") or "{}")
    except ValueError:
        policy = {}
    values = policy.get("approver") if isinstance(policy, dict) else None
    scoped = attributes.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"
    if (
        not scoped
        or set(policy) != {"approver"}
        or not isinstance(values, list)
        or len(values) != 1
        or not isinstance(values[0], str)
        or values[0].lower() != endpoint.lower()
    ):
        raise ApprovalChannelUnsafe(
            f'{problem} must have the filter policy {{"approver": ["{endpoint}"]}}: it would receive other '
            "approvers' links"
        )
    return str(values[0])
