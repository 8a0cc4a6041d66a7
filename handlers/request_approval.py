"""RequestApproval: ask a wave's approvers, then let the workflow wait (``lambda:invoke.waitForTaskToken``).

Event: ``{"runId", "wave": <normalised wave>, "settings": <run settings>, "taskToken"}``. Stores the task token
under a fresh random approval id (it never leaves the hub), marks the wave's approval PENDING in the run record,
and publishes one message per approver to the approvals topic (message attribute ``approver``, so each email
subscription's filter policy delivers only that person's links). Links go only to the hub's approvers (its
Approvers parameter, checked again here whatever the event says) with such a subscription, not at all while any
other subscription could read them, and not at all when fewer than the hub's MinimumApprovers could receive them
(``approval_channel``). Each message
holds an approve and a reject link signed with the hub's KMS HMAC key over (id, action, expiry, recipient);
links expire when the wave's approval times out. A retried invocation for the same task token reuses its
approval instead of opening a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.approval_web import channel as approval_channel
from handlers.approval_web import links, views
from handlers.approval_web.links import APPROVE, REJECT, LinkClaims
from handlers.contract.environment import RequestApprovalEnv
from handlers.contract.table import META, ApprovalStatus, WaveApprovalStatus, approval_pk, wave_sk
from handlers.domain import approvals
from handlers.domain.target import Selector
from handlers.records.codec import expires_at, iso
from handlers.records.items import ApprovalRecord, WaveApproval, WaveRecord
from handlers.records.repository import RunTable
from handlers.runtime.clients import HubClients
from handlers.runtime.entry import entry_point
from handlers.runtime.events import read_event
from handlers.runtime.observability import logger, metrics

ACCOUNTS_SHOWN = 20
# An earlier wave without an evaluation (still running, or its record could not be written).
UNRECORDED = "UNRECORDED"


@dataclass(frozen=True)
class TargetGroup:
    accounts: tuple[str, ...]
    regions: tuple[str, ...]


@dataclass(frozen=True)
class ApprovalRequest:
    approvers: tuple[str, ...]
    timeout_seconds: int


@dataclass(frozen=True)
class Wave:
    """The normalised wave (the run document's, with its defaults)."""

    index: int
    name: str
    target_count: int
    targets: tuple[TargetGroup, ...]
    max_concurrency: str
    max_errors: str
    approval: ApprovalRequest


@dataclass(frozen=True)
class Settings:
    operation: str
    reboot_option: str
    selector: Selector


@dataclass(frozen=True)
class RequestApprovalEvent:
    run_id: str
    wave: Wave
    settings: Settings
    task_token: str


def handle(event: dict[str, Any], *, env: RequestApprovalEnv, clients: HubClients, now: datetime) -> dict[str, Any]:
    request = read_event(RequestApprovalEvent, event)
    run_id, wave, task_token = request.run_id, request.wave, request.task_token
    kms, sns = clients.kms(), clients.sns()
    runs = RunTable(clients.dynamodb(), env.table_name)
    # Before anything is stored: links go only to the hub's approvers, each through a subscription nobody else
    # reads, and to enough of them to approve.
    allowed = approval_channel.allowlist(env.approvers)
    approval_channel.check_allowed(wave.approval.approvers, allowed)
    channel = approval_channel.recipients(
        sns, env.approval_topic_arn, wave.approval.approvers, minimum=env.minimum_approvers
    )
    reachable = list(channel.reachable)
    digest = approvals.token_digest(task_token)

    waves = runs.waves(run_id)
    current = next((item for item in waves if item["sk"] == wave_sk(wave.index)), None)
    earlier = sorted((item for item in waves if item.get("waveIndex", wave.index) < wave.index), key=_index)
    existing: WaveApproval = current.get("approval", {}) if current else {}
    if existing.get("tokenDigest") == digest:
        # A retried invocation of the same task: same approval, same links (sending them again is harmless).
        approval_id, requested_at, link_expires = existing["approvalId"], existing["requestedAt"], existing["expires"]
    else:
        approval_id = links.new_approval_id()
        requested_at = iso(now)
        link_expires = int((now + timedelta(seconds=wave.approval.timeout_seconds)).timestamp())
    approval: ApprovalRecord = {
        "pk": approval_pk(approval_id),
        "sk": META,
        "approvalId": approval_id,
        "runId": run_id,
        "waveIndex": wave.index,
        "waveName": wave.name,
        "status": ApprovalStatus.PENDING,
        "taskToken": task_token,
        "tokenDigest": digest,
        "approvers": reachable,
        "minimumApprovers": env.minimum_approvers,
        "requestedAt": requested_at,
        "linkExpiresAt": link_expires,
        "plan": plan(wave, request.settings, earlier),
        # A short-lived capability record: gone (with any unused token) a week after its links expire. Who decided,
        # when and from where stays in the run's wave record for the run's retention.
        "expiresAt": link_expires + approvals.RECORD_DAYS_AFTER_EXPIRY * 86400,
    }
    if not runs.put_approval(approval):
        # Decided between the first attempt and this one: the decision stands and is already on its way.
        logger.info("approval already decided; not asking again", extra={"approvalId": approval_id})
        return {"approvalId": approval_id, "requested": False}
    runs.record_wave_approval(
        run_id,
        wave.index,
        name=wave.name,
        approval={
            "status": WaveApprovalStatus.PENDING,
            "approvalId": approval_id,
            "tokenDigest": digest,
            "approvers": reachable,
            "unreachableApprovers": channel.unreachable,
            "minimumApprovers": env.minimum_approvers,
            "requestedAt": requested_at,
            "expires": link_expires,
            "expiresAt": iso(datetime.fromtimestamp(link_expires, now.tzinfo)),
        },
        expires_at=expires_at(now, env.retention_days),
    )
    for recipient, attribute in channel.reachable.items():
        urls = {}
        for action in (APPROVE, REJECT):
            claims = LinkClaims(approval_id, action, link_expires, recipient)
            urls[action] = links.url(env.approval_api_url, claims, links.sign(kms, env.approval_key_arn, claims))
        subject, body = views.email(
            {**approval, "recipient": recipient}, approve_url=urls[APPROVE], reject_url=urls[REJECT]
        )
        sns.publish(
            TopicArn=env.approval_topic_arn,
            Subject=subject,
            Message=body,
            # The exact value the recipient's filter policy matches (addresses are compared without case).
            MessageAttributes={"approver": {"DataType": "String", "StringValue": attribute}},
        )
    if channel.unreachable:
        logger.warning(
            "approvers without a filtered subscription get no links", extra={"count": len(channel.unreachable)}
        )
    logger.info(
        "approval requested",
        extra={"approvalId": approval_id, "wave": wave.name, "approvers": len(reachable), "expires": link_expires},
    )
    metrics.add_metric(name="ApprovalsRequested", unit=MetricUnit.Count, value=1)
    return {"approvalId": approval_id, "requested": True}


def plan(wave: Wave, settings: Settings, previous: Sequence[WaveRecord]) -> dict[str, Any]:
    """What approving the wave lets the workflow do: shown in the email and on the confirmation page."""
    return {
        "waveName": wave.name,
        "waveIndex": wave.index,
        "targetCount": wave.target_count,
        "targets": [
            {
                "accounts": list(group.accounts[:ACCOUNTS_SHOWN]),
                "moreAccounts": max(0, len(group.accounts) - ACCOUNTS_SHOWN),
                "regions": list(group.regions),
            }
            for group in wave.targets
        ],
        "selector": {"tags": {name: list(values) for name, values in settings.selector.tags.items()}},
        "operation": settings.operation,
        "rebootOption": settings.reboot_option,
        "maxConcurrency": wave.max_concurrency,
        "maxErrors": wave.max_errors,
        "previousWaves": [
            {
                "name": item.get("name", ""),
                "status": item.get("status", UNRECORDED),
                "outcome": item.get("outcome"),
                "counts": item.get("counts", {}),
            }
            for item in previous
        ],
    }


def _index(item: WaveRecord) -> int:
    return int(item.get("waveIndex", 0))


lambda_handler = entry_point(handle, RequestApprovalEnv)
