"""CancelRun: when a run's execution is stopped, times out or fails, cancel the commands it left running.

Event: EventBridge "Step Functions Execution Status Change" for the patch-run state machine, status ABORTED,
TIMED_OUT or FAILED (``detail.name`` is the run id). Stopping an execution does not stop the SSM commands it
sent; this does. A command is still open when its ledger item (``CMD#...``) has a CommandId and its target has
no record yet (RecordTarget settles a target's own command, on success and failure alike). Each open command is
cancelled through the spoke role and marked ``cancelledAt``. A run record still RUNNING is closed with the
execution's status and outcome 500, and the run notification says so. Safe to repeat (EventBridge and Lambda
retry asynchronous deliveries): cancelled commands are skipped, and the record is closed only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.contract.conventions import STOPPED_EXECUTION_STATUSES
from handlers.contract.environment import CancelRunEnv
from handlers.contract.errors import SpokeAccessDenied
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
    run_id, status = change.run_id, change.status
    if status not in STOPPED:
        logger.info("execution did not stop early; nothing to cancel", extra={"status": status})
        metrics.add_metric(name="RunStopEventsIgnored", unit=MetricUnit.Count, value=1)
        return {"runId": run_id, "cancelled": 0, "closed": False}
    runs = RunTable(clients.dynamodb(), env.table_name)
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


lambda_handler = entry_point(
    handle, CancelRunEnv, correlation_id_path="detail.name"
)  # the execution's name is the run id
