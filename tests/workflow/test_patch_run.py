"""Patch runs rehearsed end to end: the generated state machine, the real handlers, a simulated fleet."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from handlers.contract import conventions
from handlers.contract.run_document import snapshot_id
from rehearsal.fleet import Behaviour
from rehearsal.hub import Rehearsal

CANARY = "111111111111"
FLEET_A = "222222222222"
FLEET_B = "333333333333"
REGIONS = ["eu-west-1", "us-east-1"]
SNAPSHOT_DOCUMENT = conventions.snapshot_document_name()


def document(*waves: dict[str, Any], operation: str = "Install", pre_collect: bool = True) -> dict[str, Any]:
    return {
        "operation": operation,
        "rebootOption": "RebootIfNeeded",
        "selector": {"tags": {"PatchGroup": ["web", "app"]}},
        "preCollect": {"enabled": pre_collect},
        "waves": list(waves),
    }


def wave(name: str, accounts: list[str], regions: list[str], **settings: Any) -> dict[str, Any]:
    return {"name": name, "targets": [{"accounts": accounts, "regions": regions}], **settings}


def finals(hub: Rehearsal, run_id: str) -> dict[str, str]:
    return {item["instanceId"]: item["final"]["status"] for item in hub.items(run_id, "INSTANCE#")}


def test_two_waves_three_accounts_two_regions_patch_every_instance(hub: Rehearsal) -> None:
    windows: list[str] = []
    for account in (CANARY, FLEET_A, FLEET_B):
        for region in REGIONS:
            hub.fleet.add(account, region, 2, tags={"PatchGroup": "web"})
            windows += hub.fleet.add(account, region, 1, tags={"PatchGroup": "app"}, platform="Windows")
    hub.fleet.add(CANARY, "eu-west-1", 2, tags={"PatchGroup": "db"})  # not selected: never touched
    run = document(
        wave("canary", [CANARY], REGIONS, maxConcurrency="1", maxErrors="0"),
        wave("fleet", [FLEET_A, FLEET_B], REGIONS, maxConcurrency="10%", maxErrors="5%"),
    )

    result = hub.run(run, "2026-12-patch-tuesday")

    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert json.loads(result["output"])["outcome"] == 200
    assert hub.errors == []
    meta = hub.item("2026-12-patch-tuesday", "META")
    assert meta is not None
    assert (meta["status"], meta["outcome"]) == ("SUCCEEDED", 200)

    # Every targeted instance (and only those) has a final record.
    states = finals(hub, "2026-12-patch-tuesday")
    assert len(states) == 18
    assert set(states.values()) == {"Succeeded"}
    targets = hub.items("2026-12-patch-tuesday", "TARGET#")
    assert sorted((t["waveIndex"], t["accountId"], t["region"], t["outcome"]) for t in targets) == sorted(
        [(0, CANARY, region, 200) for region in REGIONS]
        + [(1, account, region, 200) for account in (FLEET_A, FLEET_B) for region in REGIONS]
    )

    # One snapshot and one patch command per target, with the run's parameters; wave 1 after wave 0.
    patches = hub.fleet.sent(document=conventions.patch_document_name())
    snapshots = hub.fleet.sent(document=SNAPSHOT_DOCUMENT)
    assert len(patches) == len(snapshots) == 6
    for command in patches:
        assert command.request["Parameters"] == {
            "Operation": ["Install"],
            "RebootOption": ["RebootIfNeeded"],
            "SnapshotId": [snapshot_id("2026-12-patch-tuesday")],
        }
        assert command.request["Targets"] == [{"Key": "tag:PatchGroup", "Values": ["web", "app"]}]
        expected = ("1", "0") if command.account_id == CANARY else ("10%", "5%")
        assert (command.request["MaxConcurrency"], command.request["MaxErrors"]) == expected
        assert len(command.invocations) == 3
    canary_done = max(c.requested_at for c in patches if c.account_id == CANARY)
    assert all(c.requested_at > canary_done for c in patches if c.account_id != CANARY)

    # Snapshots: exactly the runbook's layout, per instance, with the OS in the path.
    keys = hub.s3_keys("runs/2026-12-patch-tuesday/pre/")
    assert len(keys) == 18 * 3
    some_windows = windows[0]
    account, region = next((c.account_id, c.region) for c in snapshots if some_windows in c.invocations)
    prefix = f"runs/2026-12-patch-tuesday/pre/account-{account}/region-{region}/windows/{some_windows}/"
    assert [key for key in keys if key.startswith(prefix)] == [
        prefix + f for f in ("meta.json", "stderr.txt", "stdout.txt")
    ]
    meta_file = json.loads(hub.s3_text(prefix + "meta.json"))
    assert meta_file["status"] == "Success"
    assert meta_file["stdoutTruncated"] is False
    assert meta_file["commandId"] in {c.command_id for c in snapshots}
    assert hub.s3_text(prefix + "stdout.txt") == f"== host\n{some_windows}\n"

    # Report and notification.
    summary = json.loads(hub.s3_text("runs/2026-12-patch-tuesday/report/summary.json"))
    assert [(w["name"], w["status"]) for w in summary["waves"]] == [("canary", "COMPLETED"), ("fleet", "COMPLETED")]
    assert summary["totals"] == {"succeeded": 18, "failed": 0, "unreachable": 0, "notPatched": 0, "total": 18}
    ((subject, message),) = hub.notifications()
    assert subject == "Patch run 2026-12-patch-tuesday: SUCCEEDED (200)"
    assert "18 succeeded" in message


def test_partial_success_is_recorded_as_206_and_the_report_lists_the_failures(hub: Rehearsal) -> None:
    hub.fleet.add(FLEET_A, "eu-west-1", 3)
    broken = hub.fleet.add(
        FLEET_A, "eu-west-1", 1, patch=Behaviour(status="Failed", response_code=1, stderr="yum: repository unreachable")
    )[0]
    slow = hub.fleet.add(FLEET_A, "eu-west-1", 1, patch=Behaviour(status="TimedOut", seconds=900))[0]
    offline = hub.fleet.add(FLEET_A, "eu-west-1", 1, ping="ConnectionLost")[0]
    run = document(
        wave("fleet", [FLEET_A], ["eu-west-1"], failureBudget={"failedPercent": 50, "unreachablePercent": 50})
    )

    result = hub.run(run, "partial")

    assert result["status"] == "SUCCEEDED", result.get("cause")
    output = json.loads(result["output"])
    assert (output["status"], output["outcome"]) == ("PARTIAL", 206)
    target = hub.item("partial", "TARGET#00#222222222222#eu-west-1")
    assert target is not None
    assert target["outcome"] == 206
    assert target["counts"] == {"succeeded": 3, "failed": 2, "unreachable": 1, "notPatched": 0, "total": 6}
    states = finals(hub, "partial")
    assert (states[broken], states[slow], states[offline]) == ("Failed", "Failed", "Unreachable")

    rows = list(csv.DictReader(io.StringIO(hub.s3_text("runs/partial/report/instances.csv"))))
    by_instance = {row["instanceId"]: row for row in rows}
    assert len(rows) == 6
    assert "yum: repository unreachable" in by_instance[broken]["reason"]
    assert by_instance[slow]["patchStatus"] == "TimedOut"
    assert by_instance[offline]["reason"] == "ssm-connectionlost"
    page = hub.s3_text("runs/partial/report/report.html")
    assert "Instances not patched (3)" in page
    assert broken in page
    assert offline in page
    # SSM's tag targeting still addressed the offline instance; it could not deliver, and it stays unreachable.
    (patch,) = hub.fleet.sent(document=conventions.patch_document_name())
    assert patch.invocations[offline].behaviour.status == "DeliveryTimedOut"


def test_failure_budget_exceeded_in_wave_one_halts_the_next_wave(hub: Rehearsal) -> None:
    hub.fleet.add(CANARY, "eu-west-1", 1)
    hub.fleet.add(CANARY, "eu-west-1", 1, patch=Behaviour(status="Failed", response_code=1))
    hub.fleet.add(FLEET_A, "eu-west-1", 4)
    run = document(
        wave("canary", [CANARY], ["eu-west-1"], failureBudget={"failedPercent": 10}),
        wave("fleet", [FLEET_A], ["eu-west-1"]),
    )

    result = hub.run(run, "halted")

    assert result["status"] == "FAILED"
    assert result["error"] == "RunHalted"
    assert "50.0% of instances failed (budget 10%)" in result["cause"]
    assert {c.account_id for c in hub.fleet.sent()} == {CANARY}
    assert hub.items("halted", f"INSTANCE#{FLEET_A}") == []
    wave_record = hub.item("halted", "WAVE#00")
    assert wave_record is not None
    assert wave_record["status"] == "HALTED"
    meta = hub.item("halted", "META")
    assert meta is not None
    assert (meta["status"], meta["outcome"]) == ("HALTED", 500)
    summary = json.loads(hub.s3_text("runs/halted/report/summary.json"))
    assert [(w["name"], w["status"]) for w in summary["waves"]] == [("canary", "HALTED"), ("fleet", "NOT_STARTED")]
    assert "budget 10%" in summary["reason"]


def test_scan_only_run_reports_without_snapshots(hub: Rehearsal) -> None:
    for account in (CANARY, FLEET_A):
        hub.fleet.add(account, "eu-west-1", 2, patch=Behaviour(seconds=60))
    run = document(wave("compliance", [CANARY, FLEET_A], ["eu-west-1"]), operation="Scan", pre_collect=False)

    result = hub.run(run, "scan")

    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert hub.fleet.sent(document=SNAPSHOT_DOCUMENT) == []
    patches = hub.fleet.sent(document=conventions.patch_document_name())
    assert [c.request["Parameters"]["Operation"] for c in patches] == [["Scan"], ["Scan"]]
    assert hub.s3_keys("runs/scan/pre/") == []
    assert set(finals(hub, "scan").values()) == {"Succeeded"}
    # Scan's first poll comes sooner than an install's: the schedule follows the operation.
    assert 120 in hub.clock.waits
    assert 600 not in hub.clock.waits
