"""Deadlines that follow concurrency: a patch plan that cannot finish in time is refused with its numbers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from handlers.contract import rollout, run_document
from handlers.contract.errors import InvalidRunDocument

POLICY = run_document.ApprovalPolicy("run-document", ("ops@example.com",), 1, 10080)
DOCUMENT: dict[str, Any] = {
    "operation": "Install",
    "rebootOption": "RebootIfNeeded",
    "selector": {"tags": {"PatchGroup": ["web"]}},
    "waves": [{"name": "fleet", "targets": [{"accounts": ["111111111111"], "regions": ["eu-west-1"]}]}],
}


def normalise(**fields: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    wave = fields.pop("wave", {})
    document["waves"][0].update(wave)
    document.update(fields)
    return run_document.normalise(
        document, run_id="run-1", default_concurrency={"accounts": 10, "regions": 5}, approval_policy=POLICY
    )


@pytest.mark.parametrize(
    ("instances", "max_concurrency", "concurrency", "batches"),
    [
        (50, "10%", 5, 10),
        (19, "10%", 1, 19),  # 1.9 rounds down to one instance at a time
        (5, "10%", 1, 5),  # never below one
        (10, "3", 3, 4),
        (2, "50", 2, 1),  # never more than the target has
        (0, "10%", 1, 0),
    ],
)
def test_batches_follow_max_concurrency(instances: int, max_concurrency: str, concurrency: int, batches: int) -> None:
    assert rollout.concurrency(max_concurrency, instances) == concurrency
    assert rollout.batches(instances, max_concurrency) == batches


def test_max_errors_percentage_is_a_share_of_the_targets_rounded_down() -> None:
    assert rollout.rate_count("10%", 50, minimum=0) == 5
    assert rollout.rate_count("10%", 9, minimum=0) == 0
    assert rollout.rate_count("3", 50, minimum=0) == 3
    with pytest.raises(ValueError, match="neither a count nor a percentage"):
        rollout.rate_count("ten", 50, minimum=0)


def test_the_deadline_is_batches_times_the_instance_time_plus_margin() -> None:
    planned = rollout.plan(50, "10%", minutes_per_instance=20)
    assert (planned.batches, planned.seconds_per_instance, planned.margin_seconds) == (10, 1200, 3000)
    assert planned.deadline_seconds == 10 * 1200 + 3000  # a quarter of the batches' time
    assert rollout.plan(1, "1", minutes_per_instance=5).margin_seconds == 300  # at least five minutes


def test_the_delivery_timeout_lasts_until_the_deadline_within_send_commands_bounds() -> None:
    assert rollout.delivery_timeout_seconds(12_600) == 12_600
    assert rollout.delivery_timeout_seconds(5) == 30
    assert rollout.delivery_timeout_seconds(10**9) == 2_592_000


@pytest.mark.parametrize(
    ("max_concurrency", "slowest"), [("10%", 19), ("50%", 3), ("100%", 1), ("1%", 199), ("7", None)]
)
def test_the_slowest_target_size_of_a_percentage(max_concurrency: str, slowest: int | None) -> None:
    assert rollout.worst_case_instances(max_concurrency) == slowest
    if slowest is not None:
        slowest_batches = rollout.batches(slowest, max_concurrency)
        assert all(rollout.batches(n, max_concurrency) <= slowest_batches for n in range(1, 5000))


def test_a_twenty_minute_patch_at_ten_percent_is_refused_within_the_default_timeout() -> None:
    with pytest.raises(InvalidRunDocument) as refused:
        normalise(expectedPatchMinutesPerInstance=20)
    assert str(refused.value) == (
        "waves[0].maxConcurrency: 10% of a target of 19 instances 1 at a time: 19 batches x 20 min + 95 min margin "
        "= 475 min, over the 180-minute patchTimeoutMinutes (at 20 expectedPatchMinutesPerInstance); raise "
        "maxConcurrency or patchTimeoutMinutes"
    )


def test_the_same_patch_fits_with_a_longer_timeout_or_more_concurrency() -> None:
    assert (
        normalise(expectedPatchMinutesPerInstance=20, patchTimeoutMinutes=475)["settings"]["patchTimeoutMinutes"] == 475
    )
    assert (
        normalise(expectedPatchMinutesPerInstance=20, wave={"maxConcurrency": "50%"})["waves"][0]["maxConcurrency"]
        == "50%"
    )


def test_a_count_of_max_concurrency_is_left_to_send_command_which_knows_the_instances() -> None:
    assert normalise(expectedPatchMinutesPerInstance=20, wave={"maxConcurrency": "5"})
    assert rollout.target_refusal(50, "5", minutes_per_instance=20, limit_minutes=180) == (
        "50 instances 5 at a time: 10 batches x 20 min + 50 min margin = 250 min, over the 180-minute "
        "patchTimeoutMinutes"
    )
    assert rollout.target_refusal(30, "5", minutes_per_instance=20, limit_minutes=180) is None


def test_one_instance_longer_than_the_timeout_is_refused_whatever_the_concurrency() -> None:
    with pytest.raises(
        InvalidRunDocument, match=r"^expectedPatchMinutesPerInstance: 1 instance 1 at a time: 1 batch x 200 min"
    ):
        normalise(expectedPatchMinutesPerInstance=200, wave={"maxConcurrency": "7"})


def test_the_default_plan_fits_the_default_timeout_and_is_recorded() -> None:
    settings = normalise()["settings"]
    assert settings["expectedPatchMinutesPerInstance"] == 5
    default = rollout.plan(19, "10%", minutes_per_instance=5)
    assert default.deadline_seconds <= settings["patchTimeoutMinutes"] * 60


def test_the_expected_time_must_be_positive() -> None:
    with pytest.raises(InvalidRunDocument, match=r"^expectedPatchMinutesPerInstance: "):
        normalise(expectedPatchMinutesPerInstance=0)


def test_a_run_whose_waves_cannot_finish_within_the_run_timeout_is_refused() -> None:
    accounts = [f"{n:012d}" for n in range(1, 201)]
    regions = ["eu-west-1", "us-east-1"]
    slow = {"targets": [{"accounts": accounts, "regions": regions}], "maxConcurrency": "5"}
    with pytest.raises(InvalidRunDocument) as refused:
        normalise(wave=slow, patchTimeoutMinutes=720, concurrency={"accounts": 2, "regions": 1})
    # 100 rounds of accounts x 2 of regions, each (15 + 720) minutes: 147,000 minutes
    assert str(refused.value) == (
        "waves: the run would take up to 147000 minutes as planned (targets in rounds of 2 accounts x 1 regions, "
        "each target's snapshot (15 min) and patch, approvals included), over the 14-day run timeout (20160 "
        "minutes); raise concurrency or split the run"
    )
    assert normalise(wave=slow, patchTimeoutMinutes=720, concurrency={"accounts": 100, "regions": 2})
