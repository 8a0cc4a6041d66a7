"""SendCommand: send one SSM command per (run, wave, account, region, phase), at most once.

Event: ``{"runId", "executionId", "waveIndex", "accountId", "region", "phase": "snapshot"|"patch"}``. What the
command does (the spoke's patch wrapper with the run's operation, reboot option and snapshot id; the wave's
rollout; the selector) comes from the run's stored plan, after the event has been checked against it
(``handlers.domain.guard``): a hand-made event sends nothing.

SendCommand has no idempotency token, so a ledger item guards it. An attempt reserves the item (conditional put,
with a lease longer than the function's timeout) before sending, and completes it with the CommandId after. A
retried task finds the CommandId and reuses it. If an attempt died between reserving and completing, the next
one waits for the lease to run out, takes the entry over (conditional update) and looks for the command by the
unique token in its Comment before sending; SendCommand itself is never retried by the SDK. So one entry sends
at most one command.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.contract import conventions, rollout
from handlers.contract.environment import SendCommandEnv
from handlers.contract.errors import CommandLedgerBusy, CommandRejected, NotThisRun
from handlers.contract.table import LedgerStatus, command_sk, run_pk
from handlers.domain import guard
from handlers.domain.fleet import DELIVERY_TIMEOUT_SECONDS, PATCH, PHASES, SNAPSHOT, SNAPSHOT_DEADLINE_MINUTES, schedule
from handlers.domain.guard import RunPlan
from handlers.domain.target import Target, TargetEvent
from handlers.records.codec import expires_at, iso, parse_iso
from handlers.records.items import LedgerEntry
from handlers.records.repository import RunTable
from handlers.runtime.clients import FleetClients, is_transient
from handlers.runtime.entry import entry_point
from handlers.runtime.events import read_event
from handlers.runtime.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

# How far before the reservation to look for a command this ledger entry may already have sent.
LEDGER_LOOKBACK = timedelta(minutes=5)
# How long an attempt owns the ledger entry: longer than the function's timeout, so a holder past it is dead.
LEASE = timedelta(seconds=90)


@dataclass(frozen=True, kw_only=True)
class SendCommandEvent(TargetEvent):
    phase: str


def handle(event: dict[str, Any], *, env: SendCommandEnv, clients: FleetClients, now: datetime) -> dict[str, Any]:
    request = read_event(SendCommandEvent, event)
    target, phase = request.target, request.phase
    if phase not in PHASES:
        raise CommandRejected(f"event.phase: {phase!r} is not one of {', '.join(PHASES)}")
    runs = RunTable(clients.dynamodb(), env.table_name)
    plan = guard.authorise(runs, target, execution_id=request.execution_id)
    if phase == SNAPSHOT and not plan.pre_collect:
        raise NotThisRun(f"run {target.run_id!r} does not collect pre-patch snapshots")
    token = _token(target.run_id, target.wave_index, target.account_id, target.region, phase)
    spoke = clients.spoke(target)
    ssm = spoke.ssm()

    attempt = uuid.uuid4().hex
    entry = runs.ledger_entry(target, phase) or runs.reserve_ledger_entry(
        _reservation(target, phase, now=now, token=token, attempt=attempt, retention_days=env.retention_days)
    )
    command_id = entry.get("commandId")
    if command_id is None and entry.get("holder") != attempt:
        # An earlier attempt reserved this command and never recorded it: it sent it and died, died before
        # sending, or is still running. Take over only once its lease has run out, then look before sending.
        _take_over(runs, target, phase, entry, attempt=attempt, now=now)
        command_id = _find_sent(ssm, token, since=parse_iso(entry["reservedAt"]))
    if command_id is None:
        command = _request(target, phase, plan, env, runs, token=token)
        # No SDK retries here: a retried SendCommand after a timeout could patch twice. A failure goes back to
        # the state machine, whose retry comes through the ledger above.
        command_id = _send(spoke.ssm(retries=False), command)
        metrics.add_metric(name="CommandsSent", unit=MetricUnit.Count, value=1)
        logger.info(
            "command sent",
            extra={**target.log_keys(), "commandId": command_id, "phase": phase, "document": command["DocumentName"]},
        )
    else:
        metrics.add_metric(name="CommandsReused", unit=MetricUnit.Count, value=1)
        logger.info("command reused from ledger", extra={"commandId": command_id, "phase": phase})
    minutes = SNAPSHOT_DEADLINE_MINUTES if phase == SNAPSHOT else plan.patch_timeout_minutes
    deadline = parse_iso(entry["reservedAt"]) + timedelta(minutes=minutes)
    _complete(runs, target, phase, command_id=command_id, now=now, deadline=deadline)
    return {
        "commandId": command_id,
        "phase": phase,
        "deadline": iso(deadline),
        # About as long as the work takes, but never past the deadline (the poll there cancels the command).
        "nextWaitSeconds": max(1, min(schedule(phase, plan.operation).first, int((deadline - now).total_seconds()))),
        "done": False,
    }


def _token(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def _reservation(
    target: Target, phase: str, *, now: datetime, token: str, attempt: str, retention_days: int
) -> LedgerEntry:
    return {
        "pk": run_pk(target.run_id),
        "sk": command_sk(target.wave_index, target.account_id, target.region, phase),
        "status": LedgerStatus.RESERVED,
        "token": token,
        "waveIndex": target.wave_index,
        "reservedAt": iso(now),
        "holder": attempt,
        "leaseUntil": iso(now + LEASE),
        "expiresAt": expires_at(now, retention_days),
    }


def _take_over(runs: RunTable, target: Target, phase: str, entry: LedgerEntry, *, attempt: str, now: datetime) -> None:
    if now < parse_iso(entry["leaseUntil"]):
        raise CommandLedgerBusy(f"another attempt holds the command ledger until {entry['leaseUntil']}; retry later")
    taken = runs.take_over_ledger_entry(
        target, phase, previous_holder=entry["holder"], holder=attempt, lease_until=iso(now + LEASE)
    )
    if not taken:
        raise CommandLedgerBusy("another attempt took over the command ledger first; retry later")


def _find_sent(ssm: SSMClient, token: str, *, since: datetime) -> str | None:
    """A command this ledger entry already sent (its Comment ends with the token), if any."""
    after = iso(since - LEDGER_LOOKBACK)
    for page in ssm.get_paginator("list_commands").paginate(Filters=[{"key": "InvokedAfter", "value": after}]):
        for command in page["Commands"]:
            if str(command.get("Comment", "")).endswith(f"#{token}"):
                return str(command["CommandId"])
    return None


def _request(
    target: Target, phase: str, plan: RunPlan, env: SendCommandEnv, runs: RunTable, *, token: str
) -> dict[str, Any]:
    addressing = _addressing(plan, target, runs)
    if phase == PATCH:
        _check_rollout(plan, target, runs, addressing)
    command: dict[str, Any] = {
        **addressing,
        "TimeoutSeconds": _delivery_timeout(phase, plan),
        # Comment is at most 100 characters: the run id (cut) for people, the token for the ledger.
        "Comment": f"{target.run_id[:60]} w{target.wave_index:02d} {phase} #{token}",
    }
    if phase == PATCH:
        # The spoke's wrapper: enums and a UUID only (the spoke role may not send AWS-RunPatchBaseline itself).
        command |= {
            "DocumentName": conventions.patch_document_name(env.name_prefix),
            "Parameters": {
                conventions.PATCH_OPERATION_PARAMETER: [plan.operation],
                conventions.PATCH_REBOOT_OPTION_PARAMETER: [plan.reboot_option],
                conventions.PATCH_SNAPSHOT_ID_PARAMETER: [plan.snapshot_id],
            },
            "MaxConcurrency": plan.wave.max_concurrency,
            "MaxErrors": plan.wave.max_errors,
        }
    else:
        # Read-only: let every instance run it, and never let one failure stop the others.
        command |= {
            "DocumentName": conventions.snapshot_document_name(env.name_prefix),
            "MaxConcurrency": "100%",
            "MaxErrors": "100%",
        }
    if env.instance_output:
        prefix = conventions.INSTANCE_OUTPUT_PREFIX.format(
            account=target.account_id, run=target.run_id, region=target.region, phase=phase
        )
        command |= {"OutputS3BucketName": env.artifact_bucket, "OutputS3KeyPrefix": prefix}
    return command


def _delivery_timeout(phase: str, plan: RunPlan) -> int:
    """SSM counts the delivery timeout from the send, so an instance still queued behind MaxConcurrency would time
    out untried: a patch command's lasts as long as its deadline. A snapshot runs everywhere at once."""
    if phase == PATCH:
        return rollout.delivery_timeout_seconds(plan.patch_timeout_minutes * 60)
    return DELIVERY_TIMEOUT_SECONDS[phase]


def _check_rollout(plan: RunPlan, target: Target, runs: RunTable, addressing: dict[str, Any]) -> None:
    """Refuse, before anything is sent, a patch that cannot finish by its deadline at the wave's MaxConcurrency
    with this target's instance count (known only now: Discover recorded the reachable ones)."""
    count = len(addressing.get("InstanceIds") or _reachable(runs, target))
    reason = rollout.target_refusal(
        count,
        plan.wave.max_concurrency,
        minutes_per_instance=plan.expected_patch_minutes_per_instance,
        limit_minutes=plan.patch_timeout_minutes,
    )
    if reason:
        raise CommandRejected(f"maxConcurrency {plan.wave.max_concurrency}: {reason}; nothing was sent")


def _reachable(runs: RunTable, target: Target) -> list[str]:
    instances = runs.instances(target.run_id, target.account_id, target.region)
    return [i["instanceId"] for i in instances if i.get("discovery", {}).get("reachable")]


def _addressing(plan: RunPlan, target: Target, runs: RunTable) -> dict[str, Any]:
    """Tags for a run (SSM resolves them, so MaxConcurrency/MaxErrors cover the whole scope); the reachable
    instances by id for a re-run (at most 50, which ValidateRun guarantees)."""
    if not plan.rerun_of:
        tags = plan.selector.tags
        return {"Targets": [{"Key": f"tag:{key}", "Values": list(values)} for key, values in sorted(tags.items())]}
    return {"InstanceIds": sorted(_reachable(runs, target))}


def _send(ssm: SSMClient, command: dict[str, Any]) -> str:
    try:
        return str(ssm.send_command(**command)["Command"]["CommandId"])
    except ClientError as error:
        if is_transient(error):
            raise
        raise CommandRejected(f"{command['DocumentName']}: {error.response['Error'].get('Message', error)}") from None


def _complete(
    runs: RunTable, target: Target, phase: str, *, command_id: str, now: datetime, deadline: datetime
) -> None:
    runs.complete_ledger_entry(target, phase, command_id=command_id, sent_at=iso(now), deadline=iso(deadline))


lambda_handler = entry_point(handle, SendCommandEnv)
