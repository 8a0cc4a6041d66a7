"""EvaluateWave: a wave is judged against its failure budget; exceeding it, or missing records, halts the run."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.contract import table
from handlers.contract.errors import FailureBudgetExceeded, InvalidEvent, TargetsUnrecorded
from handlers.records.items import TargetRecord
from rehearsal.hub import Rehearsal
from tests.handlers.targets import run_table

BUDGET = {"failedPercent": 10, "unreachablePercent": 50}


def wave(target_count: int = 2, **budget: Any) -> dict[str, Any]:
    return {"index": 0, "name": "canary", "targetCount": target_count, "failureBudget": BUDGET | budget}


def recorded(hub: Rehearsal, account_id: str, *, succeeded: int, failed: int = 0, status: str = "COMPLETED") -> None:
    counts = {"succeeded": succeeded, "failed": failed, "unreachable": 0, "notPatched": 0}
    counts["total"] = sum(counts.values())
    record: TargetRecord = {
        "pk": table.run_pk("run-1"),
        "sk": table.target_sk(0, account_id, "eu-west-1"),
        "waveIndex": 0,
        "accountId": account_id,
        "region": "eu-west-1",
        "status": status,
        "outcome": 200 if not failed else (206 if succeeded else 500),
        "counts": counts,  # type: ignore[typeddict-item]
        "error": "",
    }
    run_table(hub).record_target(record)


def wave_record(hub: Rehearsal) -> dict[str, Any]:
    item = hub.item("run-1", table.wave_sk(0))
    assert item is not None
    return item


def test_a_wave_within_its_budget_is_completed(hub: Rehearsal) -> None:
    recorded(hub, "111111111111", succeeded=10)
    recorded(hub, "222222222222", succeeded=9, failed=1)

    result = hub.invoke("EvaluateWave", {"runId": "run-1", "wave": wave()})

    assert (result["status"], result["outcome"]) == ("COMPLETED", 206)
    assert result["counts"] == {"succeeded": 19, "failed": 1, "unreachable": 0, "notPatched": 0, "total": 20}
    item = wave_record(hub)
    assert (item["status"], item["failedPercent"], item["reason"]) == ("COMPLETED", 5.0, "")
    assert item["targets"] == {"expected": 2, "recorded": 2, "erroredBlind": 0}


def test_a_wave_over_its_failure_budget_halts_the_run(hub: Rehearsal) -> None:
    recorded(hub, "111111111111", succeeded=1, failed=1)

    with pytest.raises(FailureBudgetExceeded, match=r"50\.0% of instances failed \(budget 10%\)"):
        hub.invoke("EvaluateWave", {"runId": "run-1", "wave": wave(target_count=1)})

    item = wave_record(hub)
    assert item["status"] == "HALTED"
    assert item["reason"].startswith("wave 'canary': ")
    assert item["failureBudget"] == BUDGET


def test_a_wave_with_targets_that_have_no_record_cannot_be_judged(hub: Rehearsal) -> None:
    recorded(hub, "111111111111", succeeded=3)

    with pytest.raises(TargetsUnrecorded, match="1 of 2 targets have no record"):
        hub.invoke("EvaluateWave", {"runId": "run-1", "wave": wave()})


def test_evaluating_a_wave_keeps_its_approval(hub: Rehearsal) -> None:
    approval = {"status": "APPROVED", "approvalId": "a" * 32, "decidedBy": "ops@example.com"}
    run_table(hub).record_wave_approval("run-1", 0, name="canary", approval=approval, expires_at=1)  # type: ignore[arg-type]
    recorded(hub, "111111111111", succeeded=1)

    hub.invoke("EvaluateWave", {"runId": "run-1", "wave": wave(target_count=1)})

    assert wave_record(hub)["approval"] == approval


def test_evaluate_wave_refuses_a_wave_without_its_budget(hub: Rehearsal) -> None:
    with pytest.raises(InvalidEvent, match=r"event\.wave\.failureBudget: required"):
        hub.invoke("EvaluateWave", {"runId": "run-1", "wave": {"index": 0, "name": "w", "targetCount": 1}})
    with pytest.raises(
        InvalidEvent, match=r"event\.wave\.failureBudget\.failedPercent: expected int or float, got bool"
    ):
        hub.invoke("EvaluateWave", {"runId": "run-1", "wave": wave(failedPercent=True)})
