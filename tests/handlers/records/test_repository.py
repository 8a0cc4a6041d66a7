"""The run table repository against moto's DynamoDB: each named operation, its condition, and its reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from handlers.contract import table
from handlers.contract.errors import RunAlreadyExists
from handlers.contract.table import APPROVAL_PAGE_ATTRIBUTES, ApprovalStatus, RunStatus
from handlers.domain.target import Target
from handlers.records.items import ApprovalRecord, InstanceRecord, LedgerEntry, RunRecord, TargetRecord
from handlers.records.repository import DecisionClaim, RunTable
from rehearsal.template import generated_template

REGION = "eu-west-1"
TARGET = Target("run-1", 0, "222222222222", REGION)
COUNTS = {"succeeded": 1, "failed": 0, "unreachable": 0, "notPatched": 0, "total": 1}


@pytest.fixture
def calls() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def runs(calls: list[tuple[str, dict[str, Any]]]) -> Iterator[RunTable]:
    """An empty run table shaped as the hub template declares it; every request it receives is kept in ``calls``."""
    properties = generated_template("hub.json")["Resources"]["PatchRunsTable"]["Properties"]
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="runs",
            BillingMode=properties["BillingMode"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
        )
        dynamodb.meta.events.register(
            "provide-client-params.dynamodb.*",
            lambda params, model, **_: calls.append((model.name, dict(params))),
        )
        yield RunTable(dynamodb, "runs")


def run(execution: str = "arn:execution:run-1") -> RunRecord:
    return {"pk": "RUN#run-1", "sk": "META", "runId": "run-1", "executionId": execution, "status": RunStatus.RUNNING}


def test_a_run_is_created_once_and_again_only_by_its_own_execution(runs: RunTable) -> None:
    runs.create_run(run())
    runs.create_run(run())  # the same execution, retried after a crash

    with pytest.raises(RunAlreadyExists, match="RUN#run-1 has already been started"):
        runs.create_run(run("arn:execution:another"))
    assert runs.get_run("run-1") == run()
    assert runs.get_run("never") is None


def test_a_run_is_closed_on_stop_only_while_running_and_finished_whatever_it_was(runs: RunTable) -> None:
    assert not runs.close_run_if_running(
        "run-1", status=RunStatus.ABORTED, outcome=500, reason="r", ended_at="2026-12-08T10:00:00Z"
    )  # never recorded
    runs.create_run(run())
    closed = {"status": RunStatus.ABORTED, "outcome": 500, "reason": "stopped", "ended_at": "2026-12-08T10:00:00Z"}

    assert runs.close_run_if_running("run-1", **closed)
    assert not runs.close_run_if_running("run-1", **closed | {"reason": "again"})
    meta = runs.get_run("run-1")
    assert meta is not None
    assert (meta["status"], meta["outcome"], meta["reason"]) == ("ABORTED", 500, "stopped")

    runs.set_final_state(
        "run-1",
        status=RunStatus.HALTED,
        outcome=500,
        reason="wave",
        ended_at="2026-12-08T11:00:00Z",
        report_prefix="p/",
    )
    meta = runs.get_run("run-1")
    assert meta is not None
    assert (meta["status"], meta["reportPrefix"], meta["executionId"]) == ("HALTED", "p/", "arn:execution:run-1")


def target(wave_index: int, account_id: str) -> TargetRecord:
    return {
        "pk": "RUN#run-1",
        "sk": table.target_sk(wave_index, account_id, REGION),
        "waveIndex": wave_index,
        "accountId": account_id,
        "region": REGION,
        "status": "COMPLETED",
        "outcome": 200,
        "counts": COUNTS,  # type: ignore[typeddict-item]
        "error": "",
    }


def test_a_run_is_read_back_sorted_into_its_kinds_and_a_wave_into_its_own_targets(runs: RunTable) -> None:
    runs.create_run(run())
    for wave_index, account_id in ((0, "111111111111"), (0, "222222222222"), (1, "111111111111")):
        runs.record_target(target(wave_index, account_id))
    runs.record_wave_approval("run-1", 1, name="fleet", approval={"status": "PENDING"}, expires_at=1)
    runs.put_instances([{"pk": "RUN#run-1", "sk": table.instance_sk("111111111111", REGION, "i-1"), "waveIndex": 0}])

    contents = runs.read_run("run-1")

    assert contents.meta == run()
    assert list(contents.waves) == [1]
    assert len(contents.targets) == 3
    assert [item["sk"] for item in contents.instances] == ["INSTANCE#111111111111#eu-west-1#i-1"]
    assert [t["accountId"] for t in runs.wave_targets("run-1", 0)] == ["111111111111", "222222222222"]
    assert runs.wave_targets("run-1", 2) == []


def test_a_wave_evaluation_leaves_its_approval_in_place(runs: RunTable) -> None:
    runs.record_wave_approval(
        "run-1", 0, name="canary", approval={"status": "APPROVED", "decidedBy": "ops"}, expires_at=1
    )

    runs.record_wave(
        {
            "pk": "RUN#run-1", "sk": "WAVE#00", "waveIndex": 0, "name": "canary", "status": "COMPLETED", "outcome": 200,
            "counts": COUNTS, "targets": {"expected": 1, "recorded": 1, "erroredBlind": 0}, "failedPercent": 0.0,
            "unreachablePercent": 0.0, "failureBudget": {"failedPercent": 5, "unreachablePercent": 2.5},
            "reason": "", "evaluatedAt": "2026-12-08T10:00:00Z", "expiresAt": 2,
        }  # type: ignore[typeddict-item]
    )  # fmt: skip

    (wave,) = runs.waves("run-1")
    assert (wave["status"], wave["approval"], wave["expiresAt"]) == (
        "COMPLETED",
        {"status": "APPROVED", "decidedBy": "ops"},
        2,
    )
    assert wave["failureBudget"] == {"failedPercent": 5, "unreachablePercent": 2.5}


def test_a_wave_evaluation_must_bind_exactly_the_evaluated_attributes(runs: RunTable) -> None:
    with pytest.raises(ValueError, match="unbound"):
        runs.record_wave({"pk": "RUN#run-1", "sk": "WAVE#00", "waveIndex": 0, "status": "COMPLETED"})


def reservation(holder: str) -> LedgerEntry:
    return {
        "pk": "RUN#run-1",
        "sk": table.command_sk(0, TARGET.account_id, REGION, "patch"),
        "status": "RESERVED",
        "holder": holder,
        "reservedAt": "2026-12-08T09:00:00Z",
    }


def test_the_ledger_is_reserved_once_taken_over_once_and_completed_with_one_command(runs: RunTable) -> None:
    assert runs.reserve_ledger_entry(reservation("first")) == reservation("first")
    assert runs.reserve_ledger_entry(reservation("second"))["holder"] == "first"  # the first reservation stands

    assert not runs.take_over_ledger_entry(TARGET, "patch", previous_holder="someone", holder="third", lease_until="x")
    assert runs.take_over_ledger_entry(TARGET, "patch", previous_holder="first", holder="third", lease_until="x")
    runs.complete_ledger_entry(TARGET, "patch", command_id="cmd-1", sent_at="2026-12-08T09:01:00Z", deadline="d")
    runs.complete_ledger_entry(TARGET, "patch", command_id="cmd-1", sent_at="2026-12-08T09:05:00Z", deadline="d")

    entry = runs.ledger_entry(TARGET, "patch")
    assert entry is not None
    assert (entry["status"], entry["commandId"], entry["sentAt"], entry["holder"]) == (
        "SENT",
        "cmd-1",
        "2026-12-08T09:01:00Z",  # a reused command keeps when it was sent
        "third",
    )
    assert not runs.take_over_ledger_entry(TARGET, "patch", previous_holder="third", holder="fourth", lease_until="x")
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        runs.complete_ledger_entry(TARGET, "patch", command_id="cmd-2", sent_at="t", deadline="d")
    runs.mark_cancelled(entry, at="2026-12-08T10:00:00Z")
    (listed,) = runs.ledger_entries("run-1")
    assert listed["cancelledAt"] == "2026-12-08T10:00:00Z"
    assert runs.ledger_entry(TARGET, "snapshot") is None


def test_an_instance_result_creates_its_item_and_keeps_its_first_expiry(runs: RunTable) -> None:
    result = {"commandId": "c", "status": "Success", "statusDetails": "Success", "responseCode": 0, "reason": ""}

    runs.record_instance_result(TARGET, "i-1", "snapshot", result, expires_at=100)  # type: ignore[arg-type]
    runs.record_instance_result(TARGET, "i-1", "patch", result | {"status": "Failed"}, expires_at=200)  # type: ignore[arg-type]
    runs.record_snapshot_prefix(TARGET, "i-1", "runs/run-1/pre/x/")
    (item,) = runs.instances("run-1", TARGET.account_id, REGION)
    runs.record_instance_final(item, {"status": "Failed", "reason": "Failed"})

    (item,) = runs.instances("run-1", TARGET.account_id, REGION)
    assert (item["instanceId"], item["waveIndex"], item["expiresAt"]) == ("i-1", 0, 100)
    assert item["snapshot"] == result | {"s3Prefix": "runs/run-1/pre/x/"}
    assert item["patch"]["status"] == "Failed"
    assert item["final"] == {"status": "Failed", "reason": "Failed"}
    assert runs.instances("run-1", "999999999999", REGION) == []


def test_instances_are_written_in_batches_however_many(runs: RunTable) -> None:
    many: list[InstanceRecord] = [
        {"pk": "RUN#run-1", "sk": table.instance_sk(TARGET.account_id, REGION, f"i-{n:03d}")} for n in range(60)
    ]

    assert runs.put_instances(many) == 60
    assert len(list(runs.run_instances("run-1"))) == 60


def test_a_rerun_selection_is_kept_per_account_and_region(runs: RunTable) -> None:
    runs.record_rerun_selection("run-2", "run-1", {(TARGET.account_id, REGION): ["i-1", "i-2"]}, expires_at=1)

    assert runs.rerun_instances("run-2", TARGET.account_id, REGION) == ["i-1", "i-2"]
    assert runs.rerun_instances("run-2", TARGET.account_id, "us-east-1") == []


def approval(digest: str = "digest-1", *, minimum: int = 1) -> ApprovalRecord:
    return {
        "pk": table.approval_pk("a1"),
        "sk": "META",
        "approvalId": "a1",
        "runId": "run-1",
        "status": ApprovalStatus.PENDING,
        "taskToken": "the-token",
        "tokenDigest": digest,
        "approvers": ["ops@example.com", "lead@example.com"],
        "minimumApprovers": minimum,
        "linkExpiresAt": 2_000,
    }


def claim(by: str = "ops@example.com", now: int = 1_000, decision: str = "APPROVED") -> DecisionClaim:
    return DecisionClaim(decision, by, "2026-12-08T09:05:00Z", "203.0.113.7", "Firefox/140", now)


def approved(runs: RunTable, by: str = "ops@example.com") -> ApprovalRecord | None:
    """``by``'s vote, then the claim it makes (the quorum of one)."""
    runs.record_vote("a1", claim(by))
    return runs.claim_decision("a1", claim(by))


def test_an_approval_is_decided_once_by_one_of_its_approvers_before_it_expires(runs: RunTable) -> None:
    assert runs.put_approval(approval())
    assert runs.put_approval(approval())  # the same task's retried request
    assert not runs.put_approval(approval("another-token"))

    assert runs.record_vote("a1", claim(by="intruder@example.com")) is None
    assert runs.claim_decision("a1", claim(by="intruder@example.com")) is None
    assert runs.record_vote("a1", claim(now=2_000)) is None  # expired
    assert runs.claim_decision("a1", claim()) is None  # no vote yet: an approval needs its quorum
    decided = approved(runs)
    assert decided is not None
    assert (decided["status"], decided["decidedBy"], decided["delivered"], decided["taskToken"]) == (
        "DECIDED",
        "ops@example.com",
        False,
        "the-token",
    )
    assert runs.claim_decision("a1", claim()) is None
    assert not runs.put_approval(approval())  # decided meanwhile: not asked again


def test_an_approval_that_needs_two_approvers_is_claimed_only_by_the_second_distinct_vote(runs: RunTable) -> None:
    runs.put_approval(approval(minimum=2))

    first = runs.record_vote("a1", claim("ops@example.com"))
    assert first is not None
    assert (first["status"], first["approvedBy"], len(first["votes"])) == ("PENDING", ["ops@example.com"], 1)
    assert runs.record_vote("a1", claim("OPS@example.com")) is None  # not an approver as written
    assert runs.record_vote("a1", claim("ops@example.com")) is None  # counts once
    assert runs.claim_decision("a1", claim("ops@example.com")) is None  # one of two

    second = runs.record_vote("a1", claim("lead@example.com"))
    assert second is not None
    assert second["approvedBy"] == ["lead@example.com", "ops@example.com"]
    assert [vote["by"] for vote in second["votes"]] == ["ops@example.com", "lead@example.com"]
    decided = runs.claim_decision("a1", claim("lead@example.com"))
    assert decided is not None
    assert (decided["status"], decided["decidedBy"]) == ("DECIDED", "lead@example.com")


def test_one_rejection_decides_an_approval_whatever_the_votes(runs: RunTable) -> None:
    runs.put_approval(approval(minimum=2))
    runs.record_vote("a1", claim("ops@example.com"))

    decided = runs.claim_decision("a1", claim("lead@example.com", decision="REJECTED"))

    assert decided is not None
    assert (decided["decision"], decided["decidedBy"], decided["approvedBy"]) == (
        "REJECTED",
        "lead@example.com",
        ["ops@example.com"],
    )
    assert runs.record_vote("a1", claim("lead@example.com")) is None


def test_the_page_reads_an_approval_without_its_token(runs: RunTable, calls: list[tuple[str, dict[str, Any]]]) -> None:
    runs.put_approval(approval())

    shown = runs.approval_for_page("a1")

    assert shown is not None
    assert "taskToken" not in shown
    assert shown["approvers"] == ["ops@example.com", "lead@example.com"]
    (_, read), *_ = [call for call in calls if call[0] == "GetItem"]
    assert sorted(read["ExpressionAttributeNames"].values()) == sorted(APPROVAL_PAGE_ATTRIBUTES)
    assert runs.approval_for_page("unknown") is None


def test_a_delivered_decision_drops_the_token_and_nothing_settles_it_again(runs: RunTable) -> None:
    runs.put_approval(approval())
    decided = approved(runs)
    assert decided is not None

    assert runs.settle_approval("a1", ApprovalStatus.DECIDED, delivered=True, reason="")
    assert not runs.settle_approval("a1", ApprovalStatus.UNDELIVERED, delivered=False, reason="TaskTimedOut")
    assert not runs.reopen_approval(decided)
    settled = runs.get_approval("a1")
    assert settled is not None
    assert (settled["status"], settled["delivered"], "taskToken" in settled) == ("DECIDED", True, False)


def test_an_undelivered_claim_reopens_only_as_it_was_made(runs: RunTable) -> None:
    runs.put_approval(approval())
    decided = approved(runs)
    assert decided is not None

    assert not runs.reopen_approval(decided | {"decidedBy": "lead@example.com"})
    assert runs.reopen_approval(decided)

    reopened = runs.get_approval("a1")
    assert reopened is not None
    assert reopened["status"] == "PENDING"
    assert not {"decision", "decidedBy", "decidedAt", "delivered"} & set(reopened)
    assert runs.claim_decision("a1", claim()) is not None  # the link decides again


def test_an_unconfirmed_delivery_settles_as_unknown_while_the_token_is_kept(runs: RunTable) -> None:
    runs.put_approval(approval())
    approved(runs)

    assert runs.settle_approval("a1", ApprovalStatus.DECIDED, delivered=None, reason="TaskDoesNotExist")

    settled = runs.get_approval("a1")
    assert settled is not None
    assert (settled["delivered"], settled["deliveryError"], "taskToken" in settled) == (None, "TaskDoesNotExist", False)


def test_every_read_is_consistent_and_every_key_is_in_its_items_partition(
    runs: RunTable, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    runs.create_run(run())
    runs.get_run("run-1")
    runs.read_run("run-1")
    runs.put_approval(approval())
    runs.get_approval("a1")
    runs.approval_for_page("a1")
    runs.ledger_entry(TARGET, "patch")

    reads = [params for operation, params in calls if operation in ("GetItem", "Query")]
    assert [operation for operation, _ in calls if operation in ("GetItem", "Query")].count("Query") == 1
    assert len(reads) == 5
    assert all(params["ConsistentRead"] is True for params in reads)
    for operation, params in calls:
        key = params.get("Key") or params.get("Item") or {}
        if key:
            assert key["pk"]["S"].startswith((table.RUN_PREFIX, table.APPROVAL_PREFIX)), operation
