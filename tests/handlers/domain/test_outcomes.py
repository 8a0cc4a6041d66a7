"""How instance results roll up into target, wave and run outcomes (200/206/500)."""

from __future__ import annotations

import pytest

from handlers.domain import outcomes


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"patch": {"status": "Success"}}, ("Succeeded", "")),
        ({"patch": {"status": "Failed", "reason": "Failed: exit 1"}}, ("Failed", "Failed: exit 1")),
        ({"patch": {"status": "TimedOut"}}, ("Failed", "TimedOut")),
        (
            {"patch": {"status": "TimedOut", "statusDetails": "DeliveryTimedOut"}},
            ("Unreachable", "ssm-deliverytimedout"),
        ),
        ({"patch": {"status": "Failed", "statusDetails": "Terminated"}}, ("Unreachable", "ssm-terminated")),
        ({"discovery": {"reachable": False, "reason": "instance-stopped"}}, ("Unreachable", "instance-stopped")),
        ({"discovery": {"reachable": True}}, ("NotPatched", "no patch result from SSM")),
    ],
)
def test_instance_final_state(item: dict[str, object], expected: tuple[str, str]) -> None:
    final = outcomes.instance_final(item)
    assert (final["status"], final["reason"]) == expected


def test_the_target_error_is_the_reason_for_instances_without_a_result() -> None:
    final = outcomes.instance_final({"discovery": {"reachable": True}}, target_error="SpokeAccessDenied: no")
    assert final == {"status": "NotPatched", "reason": "SpokeAccessDenied: no"}


@pytest.mark.parametrize(
    ("succeeded", "failed", "unreachable", "errored", "expected"),
    [
        (3, 0, 0, False, 200),
        (0, 0, 0, False, 200),
        (2, 1, 0, False, 206),
        (2, 0, 1, False, 206),
        (0, 2, 0, False, 500),
        (0, 0, 2, False, 500),
        (0, 0, 0, True, 500),
        (2, 0, 0, True, 200),
    ],
)
def test_target_outcome(succeeded: int, failed: int, unreachable: int, errored: bool, expected: int) -> None:
    counts = {"succeeded": succeeded, "failed": failed, "unreachable": unreachable, "notPatched": 0}
    counts["total"] = sum(counts.values())
    assert outcomes.target_outcome(counts, errored=errored) == expected


def test_combined_outcomes() -> None:
    assert outcomes.combined([200, 200]) == 200
    assert outcomes.combined([500, 500]) == 500
    assert outcomes.combined([200, 500]) == 206
    assert outcomes.combined([206]) == 206


def test_counts_add_up_across_targets_whatever_they_hold() -> None:
    one = {"succeeded": 2, "failed": 1, "unreachable": 0, "notPatched": 0, "total": 3}
    two = {"succeeded": 0, "failed": 0, "unreachable": 4, "notPatched": 1, "total": 5}

    assert outcomes.add_counts([one, two]) == {
        "succeeded": 2,
        "failed": 1,
        "unreachable": 4,
        "notPatched": 1,
        "total": 8,
    }  # type: ignore[list-item]
    assert outcomes.add_counts([]) == {"succeeded": 0, "failed": 0, "unreachable": 0, "notPatched": 0, "total": 0}


def test_finals_are_tallied_by_state() -> None:
    finals = [
        outcomes.instance_final(item)
        for item in ({"patch": {"status": "Success"}}, {"patch": {"status": "Failed"}}, {})
    ]

    assert outcomes.tally(finals) == {"succeeded": 1, "failed": 1, "unreachable": 0, "notPatched": 1, "total": 3}
