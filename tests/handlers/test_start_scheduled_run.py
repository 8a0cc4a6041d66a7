"""StartScheduledRun: a schedule's delivery starts one run named by its scheduled time, once; blackout dates refuse."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from handlers.contract.errors import InvalidEvent
from rehearsal.hub import HUB_REGION, Rehearsal

DOCUMENT = {
    "operation": "Scan",
    "rebootOption": "NoReboot",
    "selector": {"tags": {"PatchGroup": ["web"]}},
    "waves": [{"name": "all", "targets": [{"accounts": ["111111111111"], "regions": ["eu-west-1"]}]}],
}


def delivery(**changes: Any) -> dict[str, Any]:
    """The input a schedule gives its target, with the scheduled time EventBridge Scheduler filled in."""
    return {
        "schedule": "patch-tuesday",
        "scheduledTime": "2026-12-08T02:00:00Z",
        "timezone": "Europe/London",
        "blackoutDates": [{"date": "2026-12-25", "reason": "change freeze"}],
        "document": DOCUMENT,
        **changes,
    }


def executions(hub: Rehearsal) -> list[str]:
    client = boto3.client("stepfunctions", region_name=HUB_REGION)
    return sorted(e["name"] for e in client.list_executions(stateMachineArn=hub.state_machine_arn)["executions"])


def test_a_delivery_starts_the_run_named_by_its_scheduled_time_and_a_repeat_starts_nothing(hub: Rehearsal) -> None:
    hub.state_machine_arn  # noqa: B018 - created before the function starts executions of it

    first = hub.invoke("StartScheduledRun", delivery())
    hub.wait(f"{hub.state_machine_arn.replace(':stateMachine:', ':execution:')}:patch-tuesday-20261208T0200Z")
    again = hub.invoke("StartScheduledRun", delivery())

    assert first == {"runId": "patch-tuesday-20261208T0200Z", "started": True, "reason": ""}
    assert again == {
        "runId": "patch-tuesday-20261208T0200Z",
        "started": False,
        "reason": "already started (a repeated delivery)",
    }
    assert executions(hub) == ["patch-tuesday-20261208T0200Z"]


def test_a_blackout_date_in_the_schedules_time_zone_refuses_the_start_and_says_why(hub: Rehearsal) -> None:
    # 23:30 UTC on the 24th is already the 25th in Helsinki.
    result = hub.invoke("StartScheduledRun", delivery(scheduledTime="2026-12-24T23:30:00Z", timezone="Europe/Helsinki"))

    reason = "2026-12-25 is a blackout date of schedule patch-tuesday: change freeze"
    assert result == {"runId": "patch-tuesday-20261224T2330Z", "started": False, "reason": reason}
    assert executions(hub) == []
    ((subject, message),) = hub.notifications()
    assert subject == "Patch run patch-tuesday-20261224T2330Z: not started (blackout date)"
    assert reason in message


def test_a_delivery_without_a_usable_time_zone_is_refused_naming_it(hub: Rehearsal) -> None:
    with pytest.raises(InvalidEvent, match="scheduledTime/timezone"):
        hub.invoke("StartScheduledRun", delivery(timezone="Mars/Olympus"))
