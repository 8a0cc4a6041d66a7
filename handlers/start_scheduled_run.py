"""StartScheduledRun: start the run a maintenance-window schedule planned, unless its date is a blackout date.

Event (the schedule's target input): ``{"schedule", "scheduledTime", "timezone", "blackoutDates": [{"date",
"reason"}], "document"}``. The run id comes from the scheduled time (``handlers.contract.schedules``), so a
repeated delivery is refused by Step Functions as the same execution name and nothing patches twice. Blackout
dates are checked here, at run time, for both the scheduled time and now in the schedule's time zone (a flexible
window can move the start past midnight): a refused start is logged, counted and announced on the run
notifications topic, and the invocation succeeds (retrying would not change the date).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.contract.environment import StartScheduledRunEnv
from handlers.contract.errors import InvalidEvent
from handlers.contract.schedules import scheduled_run_id
from handlers.runtime.clients import HubClients
from handlers.runtime.entry import entry_point
from handlers.runtime.events import read_event
from handlers.runtime.observability import logger, metrics


@dataclass(frozen=True)
class Blackout:
    date: str
    reason: str = ""


@dataclass(frozen=True)
class ScheduledStart:
    schedule: str
    scheduled_time: str
    timezone: str
    blackout_dates: tuple[Blackout, ...] = ()
    # Anything: ValidateRun refuses an input that is not a run document, naming the field.
    document: Any = None


def handle(event: dict[str, Any], *, env: StartScheduledRunEnv, clients: HubClients, now: datetime) -> dict[str, Any]:
    start = read_event(ScheduledStart, event)
    try:
        scheduled = datetime.fromisoformat(start.scheduled_time.replace("Z", "+00:00"))
        zone = ZoneInfo(start.timezone)
    except (ValueError, KeyError) as error:
        raise InvalidEvent(f"scheduledTime/timezone: {error}") from None
    run_id = scheduled_run_id(start.schedule, scheduled)
    days = {scheduled.astimezone(zone).date().isoformat(), now.astimezone(zone).date().isoformat()}
    blackout = next((entry for entry in start.blackout_dates if entry.date in days), None)
    if blackout is not None:
        reason = f"{blackout.date} is a blackout date of schedule {start.schedule}: {blackout.reason}".rstrip(": ")
        logger.warning("scheduled run refused", extra={"runId": run_id, "reason": reason})
        metrics.add_metric(name="ScheduledRunsRefused", unit=MetricUnit.Count, value=1)
        clients.sns().publish(
            TopicArn=env.topic_arn,
            Subject=f"Patch run {run_id}: not started (blackout date)"[:100],
            Message=f"The scheduled patch run {run_id} was not started: {reason}.\n",
        )
        return {"runId": run_id, "started": False, "reason": reason}
    try:
        clients.stepfunctions().start_execution(
            stateMachineArn=env.state_machine_arn, name=run_id, input=json.dumps(start.document)
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        logger.info("scheduled run already started", extra={"runId": run_id})
        metrics.add_metric(name="ScheduledRunsRepeated", unit=MetricUnit.Count, value=1)
        return {"runId": run_id, "started": False, "reason": "already started (a repeated delivery)"}
    logger.info("scheduled run started", extra={"runId": run_id})
    metrics.add_metric(name="ScheduledRunsStarted", unit=MetricUnit.Count, value=1)
    return {"runId": run_id, "started": True, "reason": ""}


lambda_handler = entry_point(handle, StartScheduledRunEnv, correlation_id_path="schedule")
