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

from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.common import invocations, outcomes, records
from handlers.common.aws import Clients
from handlers.common.events import Target, field
from handlers.common.runtime import Env, entry_point, logger, metrics
from handlers.contract.conventions import STOPPED_EXECUTION_STATUSES
from handlers.contract.errors import SpokeAccessDenied

STOPPED = frozenset(STOPPED_EXECUTION_STATUSES)


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    run_id = field(event, "detail.name", str)
    status = field(event, "detail.status", str)
    if status not in STOPPED:
        logger.info("execution did not stop early; nothing to cancel", extra={"status": status})
        metrics.add_metric(name="RunStopEventsIgnored", unit=MetricUnit.Count, value=1)
        return {"runId": run_id, "cancelled": 0, "closed": False}
    dynamodb = clients.hub("dynamodb")
    # Ledger and target items only: a large run's instance items are not read.
    recorded_targets = {item["sk"] for item in records.query_prefix(dynamodb, env.table_name, run_id, "TARGET#")}
    cancelled, unreachable = 0, []
    for ledger in records.query_prefix(dynamodb, env.table_name, run_id, "CMD#"):
        _, wave, account_id, region, _phase = ledger["sk"].split("#")
        target = Target(run_id, int(wave), account_id, region)
        still_open = records.target_sk(target.wave_index, account_id, region) not in recorded_targets
        if not ledger.get("commandId") or ledger.get("cancelledAt") or not still_open:
            continue
        try:
            invocations.cancel(target.spoke(clients, "ssm"), ledger["commandId"])
        except SpokeAccessDenied as denied:
            unreachable.append(str(denied))
            continue
        dynamodb.update_item(
            TableName=env.table_name,
            Key=records.key(run_id, ledger["sk"]),
            UpdateExpression="SET cancelledAt = :now",
            ExpressionAttributeValues=records.to_item({":now": records.iso(now)}),
        )
        cancelled += 1
        logger.info("command cancelled", extra={**target.log_keys(), "commandId": ledger["commandId"]})
    closed = _close_run(dynamodb, env, run_id, status, now=now, cancelled=cancelled)
    if closed and env.topic_arn:
        clients.hub("sns").publish(
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


def _close_run(dynamodb: Any, env: Env, run_id: str, status: str, *, now: datetime, cancelled: int) -> bool:
    """Mark a run record that nothing else closed (Finalize did not run) with how its execution ended."""
    try:
        dynamodb.update_item(
            TableName=env.table_name,
            Key=records.key(run_id, records.META),
            UpdateExpression="SET #status = :status, outcome = :outcome, reason = :reason, endedAt = :now",
            ConditionExpression="#status = :running",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=records.to_item(
                {
                    ":status": status,
                    ":outcome": outcomes.FAILED,
                    ":reason": f"the execution ended {status}; {cancelled} running command(s) cancelled",
                    ":now": records.iso(now),
                    ":running": "RUNNING",
                }
            ),
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False  # closed already (Finalize ran, or an earlier delivery of this event), or never recorded
    return True


lambda_handler = entry_point(handle, correlation_id_path="detail.name")  # the execution's name is the run id
