"""Fault matrix: faults never lose a record, never patch twice, and never take down unrelated targets.

Each scenario rehearses the generated state machine and asserts the terminal status and outcome, the target
outcomes, that every targeted instance has a record, and that no command was sent twice for one (run, wave,
account, region, phase). docs/reliability.md tabulates the scenarios.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
from moto.dynamodb.responses import DynamoHandler
from moto.s3.exceptions import AccessForbidden
from moto.s3.models import S3Backend

from handlers import send_command
from handlers.contract import conventions, table
from handlers.records.codec import to_item
from rehearsal.fleet import NEVER, Behaviour
from rehearsal.hub import HUB_REGION, Rehearsal

A, B, C = "111111111111", "222222222222", "333333333333"
REGION = "eu-west-1"
SELECTED = {"web", "app"}


def document(*waves: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {
        "operation": "Install",
        "rebootOption": "RebootIfNeeded",
        "selector": {"tags": {"PatchGroup": sorted(SELECTED)}},
        "preCollect": {"enabled": True},
        "waves": list(waves),
        **settings,
    }


def wave(name: str, accounts: list[str], regions: list[str] | None = None, **settings: Any) -> dict[str, Any]:
    return {"name": name, "targets": [{"accounts": accounts, "regions": regions or [REGION]}], **settings}


def targets(hub: Rehearsal, run_id: str) -> dict[str, dict[str, Any]]:
    return {t["accountId"]: t for t in hub.items(run_id, "TARGET#")}


def assert_every_targeted_instance_has_a_record(
    hub: Rehearsal,
    run_id: str,
    accounts: set[str],
    *,
    unreachable_accounts: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    recorded = {item["instanceId"]: item for item in hub.items(run_id, "INSTANCE#")}
    for (account, _region), instances in hub.fleet.instances.items():
        for instance in instances:
            selected = instance.tags.get("PatchGroup") in SELECTED
            if account in accounts - unreachable_accounts and selected:
                assert instance.instance_id in recorded, instance
                assert recorded[instance.instance_id]["final"]["status"], instance
            else:
                assert instance.instance_id not in recorded, instance


def assert_no_command_sent_twice(hub: Rehearsal) -> None:
    sent = Counter((c.account_id, c.region, c.document, c.request["Comment"].split()[1]) for c in hub.fleet.sent())
    assert sent, "no command was sent at all"
    assert max(sent.values()) == 1, sent


def test_denied_spoke_role_fails_only_that_target(hub: Rehearsal) -> None:
    for account in (A, B, C):
        hub.fleet.add(account, REGION, 2)
    hub.denied_accounts.add(A)
    run = document(wave("all", [A, B, C], failureBudget={"failedPercent": 100}))

    result = hub.run(run, "denied")

    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert json.loads(result["output"])["outcome"] == 206
    by_account = targets(hub, "denied")
    assert (by_account[A]["status"], by_account[A]["outcome"]) == ("ERRORED", 500)
    assert (
        "SpokeAccessDenied: cannot assume arn:aws:iam::111111111111:role/patch-orchestrator-spoke-eu-west-1"
        in (by_account[A]["error"])
    )
    assert [(by_account[x]["outcome"]) for x in (B, C)] == [200, 200]
    assert {c.account_id for c in hub.fleet.sent()} == {B, C}
    assert_every_targeted_instance_has_a_record(hub, "denied", {A, B, C}, unreachable_accounts={A})
    assert_no_command_sent_twice(hub)


def test_denied_spoke_role_halts_later_waves_under_a_strict_budget(hub: Rehearsal) -> None:
    hub.fleet.add(A, REGION, 1)
    hub.fleet.add(B, REGION, 1)
    hub.denied_accounts.add(A)

    result = hub.run(document(wave("canary", [A]), wave("fleet", [B])), "denied-strict")

    assert (result["status"], result["error"]) == ("FAILED", "RunHalted")
    assert "1 target(s) errored before their instances were known" in result["cause"]
    assert hub.fleet.sent() == []


def test_ssm_throttling_bursts_are_retried_and_the_run_succeeds(hub: Rehearsal) -> None:
    for account in (A, B):
        hub.fleet.add(account, REGION, 2)
    # More throttles than the SDK's attempts per invocation: the state machine's retry has to carry it.
    hub.fleet.throttle("send_command", times=4)
    hub.fleet.throttle("list_command_invocations", times=4)

    result = hub.run(document(wave("all", [A, B]), preCollect={"enabled": False}), "throttled")

    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert json.loads(result["output"])["outcome"] == 200
    retried = {name for name, error in hub.errors if error.startswith("TransientAwsError")}
    assert {"SendCommand", "PollCommand"} <= retried
    assert [t["outcome"] for t in targets(hub, "throttled").values()] == [200, 200]
    assert_every_targeted_instance_has_a_record(hub, "throttled", {A, B})
    assert_no_command_sent_twice(hub)


class SimulatedTimeout(Exception):
    """The function's environment died (Lambda reports this as Sandbox.Timedout)."""

    lambda_error_type = "Sandbox.Timedout"


def crash_once(original: Callable[..., Any]) -> Callable[..., Any]:
    crashed: list[bool] = []

    def maybe_crash(*args: Any, **kwargs: Any) -> Any:
        if not crashed:
            crashed.append(True)
            raise SimulatedTimeout("Task timed out after 60.00 seconds")
        return original(*args, **kwargs)

    return maybe_crash


def test_a_crash_after_send_command_reuses_the_ledgered_command(
    hub: Rehearsal, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.fleet.add(A, REGION, 3)
    monkeypatch.setattr(send_command, "_complete", crash_once(send_command._complete))

    result = hub.run(document(wave("all", [A]), preCollect={"enabled": False}), "crash")

    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert ("SendCommand", "Sandbox.Timedout: Task timed out after 60.00 seconds") in hub.errors
    (patch,) = hub.fleet.sent()
    ledger = hub.item("crash", table.command_sk(0, A, REGION, "patch"))
    assert ledger is not None
    assert ledger["commandId"] == patch.command_id
    assert hub.fleet.count("send_command") == 1
    assert_every_targeted_instance_has_a_record(hub, "crash", {A})


def test_failed_timed_out_and_undelivered_instances_give_206_with_reasons(hub: Rehearsal) -> None:
    hub.fleet.add(A, REGION, 2)
    failed = hub.fleet.add(A, REGION, 1, patch=Behaviour(status="Failed", response_code=1, stderr="dnf: 404"))[0]
    timed_out = hub.fleet.add(A, REGION, 1, patch=Behaviour(status="TimedOut", seconds=3600))[0]
    undelivered = hub.fleet.add(A, REGION, 1, patch=Behaviour(status="DeliveryTimedOut", seconds=600))[0]

    result = hub.run(document(wave("all", [A], failureBudget={"failedPercent": 100})), "mixed")

    output = json.loads(result["output"])
    assert (result["status"], output["outcome"]) == ("SUCCEEDED", 206)
    finals = {i["instanceId"]: i["final"] for i in hub.items("mixed", "INSTANCE#")}
    assert finals[failed]["status"] == "Failed"
    assert "dnf: 404" in finals[failed]["reason"]
    assert finals[timed_out] == {"status": "Failed", "reason": "TimedOut"}
    assert finals[undelivered] == {"status": "Unreachable", "reason": "ssm-deliverytimedout"}
    assert targets(hub, "mixed")[A]["counts"] == {
        "succeeded": 2, "failed": 2, "unreachable": 1, "notPatched": 0, "total": 5,
    }  # fmt: skip
    assert_every_targeted_instance_has_a_record(hub, "mixed", {A})
    assert_no_command_sent_twice(hub)


def test_offline_and_unmanaged_instances_count_as_unreachable_against_the_budget(hub: Rehearsal) -> None:
    hub.fleet.add(A, REGION, 2)
    hub.fleet.add(A, REGION, 1, ping="ConnectionLost")
    hub.fleet.add(A, REGION, 1, ping=None)
    hub.fleet.add(A, REGION, 1, stopped=True)
    hub.fleet.add(B, REGION, 2)
    run = document(wave("canary", [A], failureBudget={"unreachablePercent": 50}), wave("fleet", [B]))

    result = hub.run(run, "unreachable")

    assert (result["status"], result["error"]) == ("FAILED", "RunHalted")
    assert "60.0% of instances unreachable (budget 50%)" in result["cause"]
    reasons = sorted(i["final"]["reason"] for i in hub.items("unreachable", "INSTANCE#") if i["final"]["reason"])
    assert reasons == ["instance-stopped", "not-managed-by-ssm", "ssm-connectionlost"]
    assert {c.account_id for c in hub.fleet.sent()} == {A}
    assert_every_targeted_instance_has_a_record(hub, "unreachable", {A})
    assert_no_command_sent_twice(hub)


def test_a_target_with_no_matching_instances_is_skipped_without_commands_or_polls(hub: Rehearsal) -> None:
    hub.fleet.add(A, REGION, 1)
    hub.fleet.add(B, REGION, 2, tags={"PatchGroup": "db"})  # nothing selected in B

    result = hub.run(document(wave("all", [A, B])), "empty")

    assert result["status"] == "SUCCEEDED", result.get("cause")
    by_account = targets(hub, "empty")
    assert (by_account[B]["status"], by_account[B]["outcome"]) == ("SKIPPED", 200)
    assert not [call for call in hub.fleet.calls if call[1] == B and call[0] != "describe_instance_information"]
    assert_every_targeted_instance_has_a_record(hub, "empty", {A, B})


def test_a_run_that_matches_no_instance_anywhere_does_not_report_success(hub: Rehearsal) -> None:
    hub.fleet.add(A, REGION, 2, tags={"PatchGroup": "db"})

    result = hub.run(document(wave("all", [A, B])), "nothing")

    assert (result["status"], result["error"]) == ("FAILED", "RunFailed")
    assert result["cause"] == "no instance matched the selector in any target"
    assert hub.fleet.sent() == []


def test_a_command_that_never_finishes_is_cancelled_at_the_deadline(hub: Rehearsal) -> None:
    stuck = hub.fleet.add(A, REGION, 2, patch=Behaviour(status=NEVER))
    hub.fleet.add(B, REGION, 1)
    everywhere = wave("all", [A, B], failureBudget={"failedPercent": 100}, maxConcurrency="100%")
    run = document(everywhere, patchTimeoutMinutes=30)

    result = hub.run(run, "stuck", timeout_seconds=180)

    by_account = targets(hub, "stuck")
    assert (by_account[A]["status"], by_account[A]["outcome"]) == ("ERRORED", 500)
    assert "CommandDeadlineExceeded" in by_account[A]["error"]
    assert by_account[B]["outcome"] == 200
    assert hub.fleet.count("cancel_command") == 1
    finals = {i["instanceId"]: i["final"] for i in hub.items("stuck", "INSTANCE#")}
    assert {finals[i]["status"] for i in stuck} == {"Failed"}
    assert (result["status"], json.loads(result["output"])["outcome"]) == ("SUCCEEDED", 206)
    # Polling stayed bounded: no wait ran past the 30-minute deadline.
    assert sum(w for w in hub.clock.waits if w >= 1) <= 2 * 30 * 60
    assert_every_targeted_instance_has_a_record(hub, "stuck", {A, B})
    assert_no_command_sent_twice(hub)


def test_starting_a_finished_run_again_never_patches_again(hub: Rehearsal) -> None:
    hub.fleet.add(A, REGION, 1)
    run = document(wave("all", [A]))
    first = hub.run(run, "once")
    assert first["status"] == "SUCCEEDED", (first.get("cause"), hub.errors)
    sent = len(hub.fleet.sent())

    with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
        hub.start(run, "once")

    assert len(hub.fleet.sent()) == sent


def test_a_run_id_recorded_before_is_refused_before_anything_is_sent(hub: Rehearsal) -> None:
    hub.fleet.add(A, REGION, 1)
    earlier = {"pk": "RUN#reused", "sk": "META", "status": "SUCCEEDED"}
    boto3.client("dynamodb", region_name=HUB_REGION).put_item(TableName=hub.table_name, Item=to_item(earlier))

    result = hub.run(document(wave("all", [A])), "reused")

    assert (result["status"], result["error"]) == ("FAILED", "RunAlreadyExists")
    assert hub.fleet.sent() == []
    assert hub.item("reused", "META") == earlier


@pytest.fixture
def failing_target_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make DynamoDB refuse writes of TARGET records: ``budget[0]`` times (negative: always)."""
    budget = [0]
    original = DynamoHandler.put_item

    def put_item(handler: DynamoHandler) -> Any:
        if handler.body["Item"]["sk"]["S"].startswith("TARGET#") and budget[0] != 0:
            budget[0] -= 1
            raise DynamodbException(
                ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException", message="Throughput exceeded"
            )
        return original(handler)

    monkeypatch.setattr(DynamoHandler, "put_item", put_item)
    return budget


def test_a_record_write_that_fails_for_a_while_is_retried(hub: Rehearsal, failing_target_writes: list[int]) -> None:
    hub.fleet.add(A, REGION, 2)
    failing_target_writes[0] = 4  # more than the SDK's attempts in one invocation

    result = hub.run(document(wave("all", [A])), "slow-table")

    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert ("RecordTarget", "TransientAwsError") in {(n, e.split(":")[0]) for n, e in hub.errors}
    assert targets(hub, "slow-table")[A]["outcome"] == 200
    assert_every_targeted_instance_has_a_record(hub, "slow-table", {A})


def test_a_record_that_cannot_be_written_stops_the_run_from_reporting_success(
    hub: Rehearsal, failing_target_writes: list[int]
) -> None:
    hub.fleet.add(A, REGION, 1)
    hub.fleet.add(B, REGION, 1)
    failing_target_writes[0] = -1

    result = hub.run(document(wave("canary", [A]), wave("fleet", [B])), "lost-table")

    assert (result["status"], result["error"]) == ("FAILED", "RunHalted")
    assert "1 of 1 targets have no record" in result["cause"]
    assert {c.account_id for c in hub.fleet.sent()} == {A}  # the next wave never started
    meta = hub.item("lost-table", "META")
    assert meta is not None
    assert meta["status"] == "HALTED"


def test_fifty_and_more_targets_in_one_wave_respect_concurrency_and_are_all_recorded(hub: Rehearsal) -> None:
    accounts = [f"{n:012d}" for n in range(400000000001, 400000000031)]
    regions = ["eu-west-1", "us-east-1"]
    for account in accounts:
        for region in regions:
            hub.fleet.add(account, region, 1)
    run = document(
        wave("wide", accounts, regions), preCollect={"enabled": False}, concurrency={"accounts": 4, "regions": 2}
    )

    result = hub.run(run, "wide", timeout_seconds=600)

    assert result["status"] == "SUCCEEDED", result.get("cause")
    recorded = hub.items("wide", "TARGET#")
    assert len(recorded) == 60
    assert {t["outcome"] for t in recorded} == {200}
    assert len(hub.fleet.sent(document=conventions.patch_document_name())) == 60
    assert hub.max_open_targets <= 4 * 2
    assert hub.max_open_targets > 1  # and they did run side by side
    assert_every_targeted_instance_has_a_record(hub, "wide", set(accounts))
    assert_no_command_sent_twice(hub)


def test_a_report_that_cannot_be_written_means_the_run_does_not_report_success(
    hub: Rehearsal, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.fleet.add(A, REGION, 1)
    original = S3Backend.put_object

    def put_object(backend: S3Backend, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        if "/report/" in key_name:
            raise AccessForbidden("Access Denied (simulated bucket policy)")
        return original(backend, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", put_object)

    result = hub.run(document(wave("all", [A])), "no-report")

    assert (result["status"], result["error"]) == ("FAILED", "ClientError")
    assert "AccessForbidden" in result["cause"]
    target = targets(hub, "no-report")[A]
    assert target["outcome"] == 200  # the patching itself is recorded; only the run's success is withheld
    meta = hub.item("no-report", "META")
    assert meta is not None
    assert (meta["status"], meta["outcome"]) == ("FAILED", 500)
    assert "AccessForbidden" in meta["reason"]


def test_a_target_whose_polling_keeps_failing_settles_its_command(hub: Rehearsal) -> None:
    done = hub.fleet.add(A, REGION, 1, patch=Behaviour(seconds=60))[0]
    running = hub.fleet.add(A, REGION, 1, patch=Behaviour(status=NEVER))[0]
    # Every PollCommand attempt fails, whatever the retries.
    hub.fleet.throttle("list_commands", times=1000, account_id=A)

    run = document(wave("all", [A], failureBudget={"failedPercent": 100}), preCollect={"enabled": False})
    result = hub.run(run, "poll-fails")

    target = targets(hub, "poll-fails")[A]
    assert target["status"] == "ERRORED"
    assert "TransientAwsError" in target["error"]
    assert hub.fleet.count("cancel_command") == 1  # nothing keeps patching unwatched
    assert hub.fleet.count("list_command_invocations") == 1  # the results were recorded
    finals = {i["instanceId"]: i["final"] for i in hub.items("poll-fails", "INSTANCE#")}
    assert finals[done]["status"] == "Succeeded"  # so a re-run will not patch it again
    assert finals[running]["status"] == "Failed"
    assert json.loads(result["output"])["outcome"] == 206
    assert_no_command_sent_twice(hub)
