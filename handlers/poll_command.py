"""PollCommand: one status call; when the command is over, record every instance's result.

Event: ``{"runId", "waveIndex", "accountId", "region", "settings": {"operation"}, "command": {"commandId",
"phase", "deadline"}}``. Returns the command state the workflow loops on: ``done`` and ``nextWaitSeconds``.
Past the deadline the command is cancelled, what finished is recorded, and ``CommandDeadlineExceeded`` ends
the target.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.common import records
from handlers.common.aws import Clients
from handlers.common.errors import CommandDeadlineExceeded, InvalidEvent
from handlers.common.events import Target, field
from handlers.common.fleet import COMMAND_TERMINAL, INVOCATION_IN_PROGRESS, PATCH, schedule
from handlers.common.runtime import Env, entry_point, logger, metrics

# ListCommandInvocations output per plugin is cut at 2,500 characters; a reason needs far less.
REASON_LENGTH = 500


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    target = Target.from_event(event)
    command = field(event, "command", dict)
    command_id = field(event, "command.commandId", str)
    phase = field(event, "command.phase", str)
    deadline = records.parse_iso(field(event, "command.deadline", str))
    operation = field(event, "settings.operation", str)
    ssm = target.spoke(clients, "ssm")

    listed = ssm.list_commands(CommandId=command_id)["Commands"]
    if not listed:
        raise InvalidEvent(
            f"event.command.commandId: {command_id} is unknown to SSM in {target.account_id}/{target.region}"
        )
    status = listed[0]["Status"]
    metrics.add_metric(name="CommandPolls", unit=MetricUnit.Count, value=1)
    where = {**target.log_keys(), "commandId": command_id, "phase": phase}
    if status in COMMAND_TERMINAL:
        counts = _record_invocations(ssm, clients.hub("dynamodb"), env, target, command_id, phase=phase, now=now)
        logger.info("command finished", extra={**where, "status": status, **counts})
        return {**command, "done": True, "status": status, "nextWaitSeconds": 0}
    if now >= deadline:
        _cancel(ssm, command_id)
        counts = _record_invocations(ssm, clients.hub("dynamodb"), env, target, command_id, phase=phase, now=now)
        metrics.add_metric(name="CommandsPastDeadline", unit=MetricUnit.Count, value=1)
        raise CommandDeadlineExceeded(
            f"{phase} command {command_id} in {target.account_id}/{target.region} still {status} at its deadline "
            f"{records.iso(deadline)}; cancelled ({counts.get('finished', 0)} instances had finished)"
        )
    remaining = max(1, int((deadline - now).total_seconds()))
    elapsed = (now - listed[0]["RequestedDateTime"]).total_seconds()
    wait = min(schedule(phase, operation).next_wait(elapsed), remaining)
    return {**command, "done": False, "status": status, "nextWaitSeconds": wait}


def _record_invocations(
    ssm: Any, dynamodb: Any, env: Env, target: Target, command_id: str, *, phase: str, now: datetime
) -> dict[str, int]:
    """Write each instance's result for ``phase`` onto its INSTANCE item (creating it if Discover missed it)."""
    counts: Counter[str] = Counter()
    pages = ssm.get_paginator("list_command_invocations").paginate(CommandId=command_id, Details=True)
    for page in pages:
        for invocation in page["CommandInvocations"]:
            result = _result(invocation, command_id)
            counts[result["status"]] += 1
            counts["finished"] += result["status"] not in INVOCATION_IN_PROGRESS
            dynamodb.update_item(
                TableName=env.table_name,
                Key=records.key(
                    target.run_id, records.instance_sk(target.account_id, target.region, invocation["InstanceId"])
                ),
                UpdateExpression="SET #phase = :result, waveIndex = :wave, accountId = :account, #region = :region, "
                "instanceId = :instance, expiresAt = if_not_exists(expiresAt, :expires)",
                ExpressionAttributeNames={"#phase": phase, "#region": "region"},
                ExpressionAttributeValues=records.to_item(
                    {
                        ":result": result,
                        ":wave": target.wave_index,
                        ":account": target.account_id,
                        ":region": target.region,
                        ":instance": invocation["InstanceId"],
                        ":expires": records.expires_at(now, env.retention_days),
                    }
                ),
            )
    if phase == PATCH:
        metrics.add_metric(name="InstancesPatched", unit=MetricUnit.Count, value=counts["Success"])
        failed = counts["finished"] - counts["Success"]
        metrics.add_metric(name="InstancesNotPatched", unit=MetricUnit.Count, value=failed)
    return dict(counts)


def _result(invocation: dict[str, Any], command_id: str) -> dict[str, Any]:
    plugins = [plugin for plugin in invocation.get("CommandPlugins", []) if plugin.get("Status") != "Skipped"]
    response_code = plugins[0].get("ResponseCode", -1) if plugins else -1
    reason = invocation.get("StatusDetails", invocation["Status"])
    failed_output = next((p.get("Output", "") for p in plugins if p.get("Status") not in ("Success",)), "")
    if failed_output:
        reason = f"{reason}: {failed_output.strip()[-REASON_LENGTH:]}"
    return {
        "commandId": command_id,
        "status": invocation["Status"],
        "statusDetails": invocation.get("StatusDetails", ""),
        "responseCode": int(response_code),
        "reason": reason if invocation["Status"] != "Success" else "",
    }


def _cancel(ssm: Any, command_id: str) -> None:
    try:
        ssm.cancel_command(CommandId=command_id)
    except ClientError as error:
        # Finished in the meantime: nothing left to cancel.
        if error.response["Error"]["Code"] not in ("InvalidCommandId", "DuplicateInstanceId"):
            raise


lambda_handler = entry_point(handle)
