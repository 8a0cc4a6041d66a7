"""PollCommand: one status call; when the command is over, record every instance's result.

Event: ``{"runId", "waveIndex", "accountId", "region", "settings": {"operation"}, "command": {"commandId",
"phase", "deadline"}}``. Returns the command state the workflow loops on: ``done`` and ``nextWaitSeconds``.
Past the deadline the command is cancelled, what finished is recorded, and ``CommandDeadlineExceeded`` ends
the target.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.common import invocations, records
from handlers.common.aws import Clients
from handlers.common.events import Target, field
from handlers.common.fleet import COMMAND_TERMINAL, schedule
from handlers.common.runtime import Env, entry_point, logger, metrics
from handlers.contract.errors import CommandDeadlineExceeded, InvalidEvent

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
        counts = invocations.record(ssm, clients.hub("dynamodb"), env, target, command_id, phase=phase, now=now)
        logger.info("command finished", extra={**where, "status": status, **counts})
        return {**command, "done": True, "status": status, "nextWaitSeconds": 0}
    if now >= deadline:
        invocations.cancel(ssm, command_id)
        counts = invocations.record(ssm, clients.hub("dynamodb"), env, target, command_id, phase=phase, now=now)
        metrics.add_metric(name="CommandsPastDeadline", unit=MetricUnit.Count, value=1)
        raise CommandDeadlineExceeded(
            f"{phase} command {command_id} in {target.account_id}/{target.region} still {status} at its deadline "
            f"{records.iso(deadline)}; cancelled ({counts.get('finished', 0)} instances had finished)"
        )
    remaining = max(1, int((deadline - now).total_seconds()))
    elapsed = (now - listed[0]["RequestedDateTime"]).total_seconds()
    wait = min(schedule(phase, operation).next_wait(elapsed), remaining)
    return {**command, "done": False, "status": status, "nextWaitSeconds": wait}


lambda_handler = entry_point(handle)
