"""CancelRun: when a run's execution is stopped, times out or fails, cancel the commands it left running.

Event: EventBridge "Step Functions Execution Status Change" for the patch-run state machine, status ABORTED,
TIMED_OUT or FAILED (``detail.name`` is the run id). Stopping an execution does not stop the SSM commands it
sent; this does. The event is only a hint: anyone who may invoke the function can hand it one. So CancelRun asks
Step Functions for the status of the execution of its own state machine with that name, and acts only when that
execution has really ended early and is the one the run record names; otherwise it touches nothing and raises
``NotThisRun`` (the delivery is retried, then dead-lettered, where an operator sees it).

A command is still open when its ledger item (``CMD#...``) has a CommandId and its target has no record yet
(RecordTarget settles a target's own command, on success and failure alike). Each open command is cancelled
through the spoke role and marked ``cancelledAt``. A run record still RUNNING is closed with the execution's real
status and outcome 500, and the run notification says so. Safe to repeat (EventBridge and Lambda
retry asynchronous deliveries): cancelled commands are skipped, and the record is closed only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.contract.conventions import STOPPED_EXECUTION_STATUSES
from handlers.contract.environment import CancelRunEnv
from handlers.contract.errors import NotThisRun, SpokeAccessDenied
from handlers.contract.table import RunStatus, target_sk
from handlers.domain import invocations, outcomes
from handlers.domain.target import Target
from handlers.records.codec import iso
from handlers.records.repository import RunTable
from handlers.runtime.clients import FleetClients
from handlers.runtime.entry import entry_point
from handlers.runtime.events import key, read_event
from handlers.runtime.observability import logger, metrics

STOPPED = frozenset(STOPPED_EXECUTION_STATUSES)


@dataclass(frozen=True)
class CancelRunEvent:
    """What CancelRun reads of the EventBridge event: Step Functions' ``detail`` (the envelope is not read)."""

    run_id: str = key("detail.name")  # the execution's name is the run id
    status: str = key("detail.status")


def handle(event: dict[str, Any], *, env: CancelRunEnv, clients: FleetClients, now: datetime) -> dict[str, Any]:
    change = read_event(CancelRunEvent, event)
    run_id = change.run_id
    if change.status not in STOPPED:
        logger.info("execution did not stop early; nothing to cancel", extra={"status": change.status})
        metrics.add_metric(name="RunStopEventsIgnored", unit=MetricUnit.Count, value=1)
        return {"runId": run_id, "cancelled": 0, "closed": False}
    runs = RunTable(clients.dynamodb(), env.table_name)
    status = _stopped_status(clients, runs, env.state_machine_arn, run_id, claimed=change.status)
    # Ledger and target items only: a large run's instance items are not read.
    recorded_targets = {target["sk"] for target in runs.targets(run_id)}
    cancelled, unreachable = 0, []
    for ledger in runs.ledger_entries(run_id):
        _, wave, account_id, region, _phase = ledger["sk"].split("#")
        target = Target(run_id, int(wave), account_id, region)
        still_open = target_sk(target.wave_index, account_id, region) not in recorded_targets
        command_id = ledger.get("commandId")
        if not command_id or ledger.get("cancelledAt") or not still_open:
            continue
        try:
            invocations.cancel(clients.spoke(target).ssm(), command_id)
        except SpokeAccessDenied as denied:
            unreachable.append(str(denied))
            continue
        runs.mark_cancelled(ledger, at=iso(now))
        cancelled += 1
        logger.info("command cancelled", extra={**target.log_keys(), "commandId": command_id})
    closed = runs.close_run_if_running(
        run_id,
        status=RunStatus(status),
        outcome=outcomes.FAILED,
        reason=f"the execution ended {status}; {cancelled} running command(s) cancelled",
        ended_at=iso(now),
    )
    if closed:
        clients.sns().publish(
            TopicArn=env.topic_arn,
            Subject=f"Patch run {run_id}: {status} (500)"[:100],
            Message=f"Patch run {run_id} stopped early: the execution ended {status}.\n"
            f"{cancelled} command(s) still running were cancelled. Records so far are in the run table "
            "(the report was not written).\n",
        )
    metrics.add_metric(name="CommandsCancelledOnStop", unit=MetricUnit.Count, value=cancelled)
    if unreachable:
        # Some spoke refused: its commands run on; fail so the delivery is retried and then dead-lettered.
        raise SpokeAccessDenied("; ".join(unreachable))
    return {"runId": run_id, "cancelled": cancelled, "closed": closed}


def _stopped_status(clients: FleetClients, runs: RunTable, state_machine_arn: str, run_id: str, *, claimed: str) -> str:
    """How the run's execution really ended (ABORTED, TIMED_OUT or FAILED), or ``NotThisRun`` if it has not ended
    early, is not this hub's, or is not the execution the run record names."""
    # Built from this hub's state machine and the name alone: the event's ARNs could name anything.
    execution_arn = state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{run_id}"
    try:
        described = clients.stepfunctions().describe_execution(executionArn=execution_arn)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("ExecutionDoesNotExist", "InvalidArn"):
            raise
        raise NotThisRun(f"the event says {run_id!r} ended {claimed}, but this hub has no such execution") from None
    status = str(described["status"])
    if status not in STOPPED:
        raise NotThisRun(f"the event says {run_id!r} ended {claimed}, but its execution is {status}")
    run = runs.get_run(run_id)
    if run is not None and run.get("executionId") != execution_arn:
        raise NotThisRun(f"run {run_id!r} was not started by {execution_arn}")
    return status


lambda_handler = entry_point(
    handle, CancelRunEnv, correlation_id_path="detail.name"
)  # the execution's name is the run id
