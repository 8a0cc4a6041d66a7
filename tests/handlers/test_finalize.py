"""Finalize: the run's outcome in its record, the report in the bucket, the notification on the topic."""

from __future__ import annotations

import json

import pytest

from handlers.contract import table
from handlers.contract.errors import InvalidEvent
from rehearsal.hub import ARTIFACT_BUCKET, Rehearsal
from tests.handlers.test_run_document import VALID


def started(hub: Rehearsal, run_id: str = "run-1") -> None:
    hub.invoke("ValidateRun", {"runId": run_id, "executionId": f"arn:execution:{run_id}", "document": VALID})


def test_finalize_always_writes_the_report_and_notifies(hub: Rehearsal) -> None:
    started(hub)

    result = hub.invoke("Finalize", {"runId": "run-1", "halt": {}})  # the workflow's "no halt"

    assert result == {
        "runId": "run-1",
        "status": "FAILED",
        "outcome": 500,
        "reason": "no instance matched the selector in any target",
        "errorName": "RunFailed",
        "report": f"s3://{ARTIFACT_BUCKET}/runs/run-1/report/",
    }
    assert hub.s3_keys("runs/run-1/report/") == [
        f"runs/run-1/report/{name}" for name in ("instances.csv", "report.html", "summary.json")
    ]
    summary = json.loads(hub.s3_text("runs/run-1/report/summary.json"))
    assert [wave["status"] for wave in summary["waves"]] == ["UNRECORDED", "UNRECORDED"]
    subject, message = hub.notifications()[-1]
    assert subject == "Patch run run-1: FAILED (500)"
    assert f"Report: s3://{ARTIFACT_BUCKET}/runs/run-1/report/report.html" in message
    meta = hub.item("run-1", table.META)
    assert meta is not None
    assert (meta["status"], meta["outcome"], meta["reportPrefix"]) == ("FAILED", 500, "runs/run-1/report/")


def test_a_run_halted_by_a_wave_is_reported_halted_with_waves_not_started(hub: Rehearsal) -> None:
    started(hub)
    halt = {"Error": "FailureBudgetExceeded", "Cause": json.dumps({"errorMessage": "wave 'canary': too many"})}

    result = hub.invoke("Finalize", {"runId": "run-1", "halt": halt})

    assert (result["status"], result["errorName"], result["reason"]) == (
        "HALTED",
        "RunHalted",
        "wave 'canary': too many",
    )
    summary = json.loads(hub.s3_text("runs/run-1/report/summary.json"))
    assert [wave["status"] for wave in summary["waves"]] == ["NOT_STARTED", "NOT_STARTED"]


def test_a_run_that_failed_names_the_error(hub: Rehearsal) -> None:
    started(hub)

    result = hub.invoke("Finalize", {"runId": "run-1", "halt": {"Error": "States.Runtime", "Cause": "boom"}})

    assert (result["status"], result["reason"]) == ("FAILED", "States.Runtime: boom")


def test_finalize_refuses_a_halt_that_is_not_an_object(hub: Rehearsal) -> None:
    with pytest.raises(InvalidEvent, match=r"^event\.halt: expected dict, got str$"):
        hub.invoke("Finalize", {"runId": "run-1", "halt": "stop"})
