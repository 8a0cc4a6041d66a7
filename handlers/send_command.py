"""SendCommand: send one SSM command per (run, wave, account, region, phase), at most once.

Event: ``{"runId", "waveIndex", "accountId", "region", "phase": "snapshot"|"patch", "settings": {...},
"wave": {"maxConcurrency", "maxErrors"}}``.

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
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.common import records
from handlers.common.aws import Clients, is_transient
from handlers.common.events import Target, field, optional
from handlers.common.fleet import (
    DELIVERY_TIMEOUT_SECONDS,
    PATCH,
    PHASES,
    SNAPSHOT,
    SNAPSHOT_DEADLINE_MINUTES,
    schedule,
)
from handlers.common.runtime import Env, entry_point, logger, metrics
from handlers.contract import conventions
from handlers.contract.errors import CommandLedgerBusy, CommandRejected

# How far before the reservation to look for a command this ledger entry may already have sent.
LEDGER_LOOKBACK = timedelta(minutes=5)
# How long an attempt owns the ledger entry: longer than the function's timeout, so a holder past it is dead.
LEASE = timedelta(seconds=90)


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    target = Target.from_event(event)
    phase = field(event, "phase", str)
    settings = field(event, "settings", dict)
    if phase not in PHASES:
        raise CommandRejected(f"event.phase: {phase!r} is not one of {', '.join(PHASES)}")
    operation = field(event, "settings.operation", str)
    ledger_key = records.key(
        target.run_id, records.command_sk(target.wave_index, target.account_id, target.region, phase)
    )
    token = _token(target.run_id, target.wave_index, target.account_id, target.region, phase)
    dynamodb = clients.hub("dynamodb")
    ssm = target.spoke(clients, "ssm")

    attempt = uuid.uuid4().hex
    entry = records.get_item(dynamodb, env.table_name, ledger_key) or _reserve(
        dynamodb, env, ledger_key, now=now, token=token, wave_index=target.wave_index, attempt=attempt
    )
    command_id = entry.get("commandId")
    if command_id is None and entry.get("holder") != attempt:
        # An earlier attempt reserved this command and never recorded it: it sent it and died, died before
        # sending, or is still running. Take over only once its lease has run out, then look before sending.
        _take_over(dynamodb, env.table_name, ledger_key, entry, attempt=attempt, now=now)
        command_id = _find_sent(ssm, token, since=records.parse_iso(entry["reservedAt"]))
    if command_id is None:
        request = _request(event, env, target, dynamodb, phase=phase, token=token)
        # No SDK retries here: a retried SendCommand after a timeout could patch twice. A failure goes back to
        # the state machine, whose retry comes through the ledger above.
        command_id = _send(target.spoke(clients, "ssm", retries=False), request)
        metrics.add_metric(name="CommandsSent", unit=MetricUnit.Count, value=1)
        logger.info(
            "command sent",
            extra={**target.log_keys(), "commandId": command_id, "phase": phase, "document": request["DocumentName"]},
        )
    else:
        metrics.add_metric(name="CommandsReused", unit=MetricUnit.Count, value=1)
        logger.info("command reused from ledger", extra={"commandId": command_id, "phase": phase})
    minutes = SNAPSHOT_DEADLINE_MINUTES if phase == SNAPSHOT else int(settings.get("patchTimeoutMinutes", 180))
    deadline = records.parse_iso(entry["reservedAt"]) + timedelta(minutes=minutes)
    _complete(dynamodb, env.table_name, ledger_key, command_id=command_id, now=now, deadline=deadline)
    return {
        "commandId": command_id,
        "phase": phase,
        "deadline": records.iso(deadline),
        # About as long as the work takes, but never past the deadline (the poll there cancels the command).
        "nextWaitSeconds": max(1, min(schedule(phase, operation).first, int((deadline - now).total_seconds()))),
        "done": False,
    }


def _token(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def _reserve(
    dynamodb: Any, env: Env, ledger_key: dict[str, Any], *, now: datetime, token: str, wave_index: int, attempt: str
) -> dict[str, Any]:
    entry = {
        "pk": ledger_key["pk"]["S"],
        "sk": ledger_key["sk"]["S"],
        "status": "RESERVED",
        "token": token,
        "waveIndex": wave_index,
        "reservedAt": records.iso(now),
        "holder": attempt,
        "leaseUntil": records.iso(now + LEASE),
        "expiresAt": records.expires_at(now, env.retention_days),
    }
    try:
        dynamodb.put_item(
            TableName=env.table_name, Item=records.to_item(entry), ConditionExpression="attribute_not_exists(pk)"
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        # Another attempt reserved it first: follow that attempt's entry.
        existing = records.get_item(dynamodb, env.table_name, ledger_key)
        assert existing is not None
        return existing
    return entry


def _take_over(
    dynamodb: Any, table: str, ledger_key: dict[str, Any], entry: dict[str, Any], *, attempt: str, now: datetime
) -> None:
    if now < records.parse_iso(entry["leaseUntil"]):
        raise CommandLedgerBusy(f"another attempt holds the command ledger until {entry['leaseUntil']}; retry later")
    try:
        dynamodb.update_item(
            TableName=table,
            Key=ledger_key,
            UpdateExpression="SET holder = :me, leaseUntil = :until",
            ConditionExpression="holder = :previous AND attribute_not_exists(commandId)",
            ExpressionAttributeValues=records.to_item(
                {":me": attempt, ":until": records.iso(now + LEASE), ":previous": entry["holder"]}
            ),
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise CommandLedgerBusy("another attempt took over the command ledger first; retry later") from None


def _find_sent(ssm: Any, token: str, *, since: datetime) -> str | None:
    """A command this ledger entry already sent (its Comment ends with the token), if any."""
    after = records.iso(since - LEDGER_LOOKBACK)
    for page in ssm.get_paginator("list_commands").paginate(Filters=[{"key": "InvokedAfter", "value": after}]):
        for command in page["Commands"]:
            if str(command.get("Comment", "")).endswith(f"#{token}"):
                return str(command["CommandId"])
    return None


def _request(
    event: dict[str, Any], env: Env, target: Target, dynamodb: Any, *, phase: str, token: str
) -> dict[str, Any]:
    request: dict[str, Any] = {
        **_addressing(event, env, target, dynamodb),
        "TimeoutSeconds": DELIVERY_TIMEOUT_SECONDS[phase],
        # Comment is at most 100 characters: the run id (cut) for people, the token for the ledger.
        "Comment": f"{target.run_id[:60]} w{target.wave_index:02d} {phase} #{token}",
    }
    if phase == PATCH:
        request |= {
            "DocumentName": conventions.PATCH_DOCUMENT_NAME,
            "Parameters": {
                "Operation": [field(event, "settings.operation", str)],
                "RebootOption": [field(event, "settings.rebootOption", str)],
                "SnapshotId": [field(event, "settings.snapshotId", str)],
            },
            "MaxConcurrency": field(event, "wave.maxConcurrency", str),
            "MaxErrors": field(event, "wave.maxErrors", str),
        }
    else:
        # Read-only: let every instance run it, and never let one failure stop the others.
        request |= {
            "DocumentName": conventions.snapshot_document_name(env.name_prefix),
            "MaxConcurrency": "100%",
            "MaxErrors": "100%",
        }
    if env.instance_output and env.artifact_bucket:
        request |= {
            "OutputS3BucketName": env.artifact_bucket,
            "OutputS3KeyPrefix": f"runs/{target.run_id}/ssm/account-{target.account_id}/region-{target.region}/{phase}",
        }
    return request


def _addressing(event: dict[str, Any], env: Env, target: Target, dynamodb: Any) -> dict[str, Any]:
    """Tags for a run (SSM resolves them, so MaxConcurrency/MaxErrors cover the whole scope); the reachable
    instances by id for a re-run (at most 50, which ValidateRun guarantees)."""
    if not optional(event, "settings.rerunOf", str, ""):
        tags = field(event, "settings.selector.tags", dict)
        return {"Targets": [{"Key": f"tag:{key}", "Values": list(values)} for key, values in sorted(tags.items())]}
    instances = records.query_prefix(
        dynamodb, env.table_name, target.run_id, records.instance_sk(target.account_id, target.region)
    )
    return {"InstanceIds": sorted(i["instanceId"] for i in instances if i.get("discovery", {}).get("reachable"))}


def _send(ssm: Any, request: dict[str, Any]) -> str:
    try:
        return str(ssm.send_command(**request)["Command"]["CommandId"])
    except ClientError as error:
        if is_transient(error):
            raise
        raise CommandRejected(f"{request['DocumentName']}: {error.response['Error'].get('Message', error)}") from None


def _complete(
    dynamodb: Any, table: str, ledger_key: dict[str, Any], *, command_id: str, now: datetime, deadline: datetime
) -> None:
    dynamodb.update_item(
        TableName=table,
        Key=ledger_key,
        UpdateExpression="SET commandId = :id, #status = :sent, sentAt = if_not_exists(sentAt, :now), "
        "deadline = :deadline",
        ConditionExpression="attribute_not_exists(commandId) OR commandId = :id",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=records.to_item(
            {":id": command_id, ":sent": "SENT", ":now": records.iso(now), ":deadline": records.iso(deadline)}
        ),
    )


lambda_handler = entry_point(handle)
