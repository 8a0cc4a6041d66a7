"""PollCommand: one status call; when the command is over, record every instance's result.

Event: ``{"runId", "executionId", "waveIndex", "accountId", "region", "command": {"commandId", "phase"}}``. The
event is checked against the run (``handlers.domain.guard``) and the command against the run's ledger: only the
command SendCommand recorded for this target and phase is polled, and its deadline is the ledger's, so a
hand-made event can neither cancel another command nor move a deadline. Returns the command state the workflow
loops on: ``done`` and ``nextWaitSeconds``. Past the deadline the command is cancelled, what finished is
recorded, and ``CommandDeadlineExceeded`` ends the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.contract.environment import PollCommandEnv
from handlers.contract.errors import CommandDeadlineExceeded, InvalidEvent, NotThisRun
from handlers.domain import guard, invocations
from handlers.domain.fleet import COMMAND_TERMINAL, PHASES, schedule
from handlers.domain.target import TargetEvent
from handlers.records.codec import expires_at, iso, parse_iso
from handlers.records.repository import RunTable
from handlers.runtime.clients import FleetClients
from handlers.runtime.entry import entry_point
from handlers.runtime.events import read_event
from handlers.runtime.observability import logger, metrics


@dataclass(frozen=True)
class Command:
    """The command SendCommand (or the previous poll) returned."""

    command_id: str
    phase: str


@dataclass(frozen=True, kw_only=True)
class PollCommandEvent(TargetEvent):
    command: Command


def handle(event: dict[str, Any], *, env: PollCommandEnv, clients: FleetClients, now: datetime) -> dict[str, Any]:
    request = read_event(PollCommandEvent, event)
    target, command = request.target, request.command
    if command.phase not in PHASES:
        raise InvalidEvent(f"event.command.phase: {command.phase!r} is not one of {', '.join(PHASES)}")
    runs = RunTable(clients.dynamodb(), env.table_name)
    plan = guard.authorise(runs, target, execution_id=request.execution_id)
    ledger = runs.ledger_entry(target, command.phase)
    if ledger is None or ledger.get("commandId") != command.command_id or "deadline" not in ledger:
        raise NotThisRun(
            f"command {command.command_id} is not the {command.phase} command run {target.run_id!r} sent to "
            f"{target.account_id}/{target.region}"
        )
    deadline_text = ledger["deadline"]
    deadline = parse_iso(deadline_text)
    ssm = clients.spoke(target).ssm()

    listed = ssm.list_commands(CommandId=command.command_id)["Commands"]
    if not listed:
        raise InvalidEvent(
            f"event.command.commandId: {command.command_id} is unknown to SSM in {target.account_id}/{target.region}"
        )
    status = listed[0]["Status"]
    metrics.add_metric(name="CommandPolls", unit=MetricUnit.Count, value=1)
    where = {**target.log_keys(), "commandId": command.command_id, "phase": command.phase}
    state = {"commandId": command.command_id, "phase": command.phase, "deadline": deadline_text, "status": status}
    expires = expires_at(now, env.retention_days)
    if status in COMMAND_TERMINAL:
        counts = invocations.record(ssm, runs, target, command.command_id, phase=command.phase, expires_at=expires)
        logger.info("command finished", extra={**where, "status": status, **counts})
        return {**state, "done": True, "nextWaitSeconds": 0}
    if now >= deadline:
        invocations.cancel(ssm, command.command_id)
        counts = invocations.record(ssm, runs, target, command.command_id, phase=command.phase, expires_at=expires)
        metrics.add_metric(name="CommandsPastDeadline", unit=MetricUnit.Count, value=1)
        raise CommandDeadlineExceeded(
            f"{command.phase} command {command.command_id} in {target.account_id}/{target.region} still {status} "
            f"at its deadline {iso(deadline)}; cancelled ({counts.get('finished', 0)} instances had finished)"
        )
    remaining = max(1, int((deadline - now).total_seconds()))
    elapsed = (now - listed[0]["RequestedDateTime"]).total_seconds()
    wait = min(schedule(command.phase, plan.operation).next_wait(elapsed), remaining)
    return {**state, "done": False, "nextWaitSeconds": wait}


lambda_handler = entry_point(handle, PollCommandEnv)
