"""What a maintenance-window schedule hands to StartScheduledRun, and the run id it derives: one contract for
the schedules template (generator/schedules.py) and the handler.

Step Functions execution names may not contain ``:`` and EventBridge Scheduler cannot reformat its
``<aws.scheduler.scheduled-time>`` (``2026-12-08T02:00:00Z``), so a schedule cannot name the execution itself:
StartScheduledRun turns the scheduled time into the run id ``<schedule>-<YYYYMMDDTHHMMZ>``. A repeated delivery
of one scheduled time gets the same run id, which Step Functions refuses to start twice.
"""

from __future__ import annotations

from datetime import datetime

# The context attribute EventBridge Scheduler replaces with the invocation's scheduled time (UTC, ISO 8601).
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
# Schedule names are prefixed (Scheduler allows 64 characters: a 30-character prefix, "-", 33) and end up in run
# ids (<name>-<14-character time>, well within 80).
SCHEDULE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,32}$"


def scheduled_run_id(schedule: str, scheduled_time: datetime) -> str:
    """``patch-tuesday-20261208T0200Z``: the run id of one scheduled time of one schedule."""
    return f"{schedule}-{scheduled_time:%Y%m%dT%H%MZ}"
