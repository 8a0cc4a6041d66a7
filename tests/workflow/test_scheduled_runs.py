"""A maintenance window fires: the generated schedule's input, with the time Scheduler fills in, starts one run."""

from __future__ import annotations

import json
from typing import Any

from handlers.contract.schedules import SCHEDULED_TIME
from rehearsal.hub import Rehearsal
from rehearsal.template import generated_template


def delivered(environment: str, scheduled_time: str) -> dict[str, Any]:
    """What EventBridge Scheduler hands StartScheduledRun: the schedule's Input with its context attribute filled."""
    template = generated_template(f"schedules-{environment}.json")
    (schedule,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"]
    return dict(json.loads(schedule["Target"]["Input"].replace(SCHEDULED_TIME, scheduled_time)))


def test_the_dev_window_starts_its_scan_named_by_the_scheduled_time_and_a_repeat_patches_nothing(
    hub: Rehearsal,
) -> None:
    for account in ("111111111111", "222222222222", "333333333333"):
        hub.fleet.add(account, "eu-west-1", 1, tags={"PatchGroup": "web"})
    event = delivered("dev", "2026-12-07T06:00:00Z")
    hub.state_machine_arn  # noqa: B018 - deployed before the window fires

    started = hub.invoke("StartScheduledRun", event)
    result = hub.wait(f"{hub.state_machine_arn.replace(':stateMachine:', ':execution:')}:{started['runId']}")
    sent = len(hub.fleet.sent())
    repeated = hub.invoke("StartScheduledRun", event)

    assert started == {"runId": "weekly-scan-20261207T0600Z", "started": True, "reason": ""}
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert json.loads(result["output"])["outcome"] == 200
    assert repeated["started"] is False
    assert len(hub.fleet.sent()) == sent


def test_the_prod_window_is_refused_on_its_blackout_date(hub: Rehearsal) -> None:
    result = hub.invoke("StartScheduledRun", delivered("prod", "2026-12-23T22:00:00Z"))

    assert result["started"] is False
    assert result["reason"] == "2026-12-23 is a blackout date of schedule patch-tuesday: year-end change freeze"
    assert hub.fleet.sent() == []
