"""Who may receive approval links: the approvals topic's confirmed email subscriptions, each filtered to itself.

Approval links are bearer credentials, so RequestApproval sends them only where exactly one approver reads them:
an email subscription whose filter policy is ``{"approver": ["<that subscription's own address>"]}``. Any other
subscription on the approvals topic (no filter, a filter naming someone else or several people, a chat hook, a
queue) would hand one person's links to another, so its presence stops the approval instead. The confirmed
subscriptions are also the allowlist of approvers: a run document can name anyone, but only people the hub's
administrators subscribed receive links.
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


def recipients(sns: SNSClient, topic_arn: str, approvers: Sequence[str]) -> Recipients:
    """Which of ``approvers`` can be sent links; raises ``ApprovalChannelUnsafe`` if any link could go astray."""
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
