"""The rollout model against SSM's documented behaviour; each test names the page and the rule it checks.

RATE: SSM user guide, "Run commands at scale" (send-commands-multiple.html), concurrency and error controls.
STATUS: SSM user guide, "Understanding command statuses" (monitor-commands.html).
API: SendCommand API reference (TimeoutSeconds, MaxConcurrency, MaxErrors).
"""

from __future__ import annotations

from collections import Counter

import pytest

from handlers.contract.rollout import delivery_timeout_seconds, plan
from rehearsal.ssm_rollout import Outcome, Rollout, lognormal_durations

HOUR = 3600.0
IDS = tuple(f"i-{n:03d}" for n in range(50))


def rollout(
    count: int = 10,
    *,
    seconds: float = 600,
    max_concurrency: str = "50",
    max_errors: str = "0",
    delivery: float = 10 * HOUR,
    execution: float = 2 * HOUR,
    outcomes: dict[str, Outcome] | None = None,
    acknowledge_seconds: float = 0,
) -> Rollout:
    ids = IDS[:count]
    return Rollout.start(
        ids,
        max_concurrency=max_concurrency,
        max_errors=max_errors,
        delivery_timeout_seconds=delivery,
        execution_timeout_seconds=execution,
        durations=dict.fromkeys(ids, seconds),
        outcomes=outcomes,
        acknowledge_seconds=acknowledge_seconds,
    )


def running_at(model: Rollout, at: float) -> int:
    return sum(1 for i in model.invocations_at(at) if i.status_details == "InProgress")


def finals(model: Rollout) -> Counter[str]:
    return Counter(i.status_details for i in model.invocations_at(model.finished_at))


# MaxConcurrency ---------------------------------------------------------------------------------------------


def test_a_count_of_max_concurrency_runs_at_most_that_many_at_once() -> None:
    """RATE: max-concurrency is an absolute number of managed nodes that run the command at the same time."""
    model = rollout(10, max_concurrency="3")
    assert running_at(model, 0) == 3
    assert running_at(model, 599) == 3
    assert [i.started_at for i in model.invocations_at(model.finished_at)][:7] == [0, 0, 0, 600, 600, 600, 1200]
    assert model.finished_at == 4 * 600  # ceil(10 / 3) batches


def test_a_percentage_of_max_concurrency_is_of_the_targets_rounded_down_and_at_least_one() -> None:
    """RATE: max-concurrency may be a percentage of the target set (the rounding is not documented: down, the
    slower reading, never below one node)."""
    assert rollout(50, max_concurrency="10%").concurrency == 5
    assert rollout(19, max_concurrency="10%").concurrency == 1
    assert rollout(5, max_concurrency="10%").concurrency == 1
    assert rollout(19, max_concurrency="10%").finished_at == 19 * 600


def test_the_next_instance_starts_when_a_slot_frees_not_when_a_whole_batch_ends() -> None:
    """RATE: the queue sends to more nodes as invocations complete, up to max-concurrency at a time."""
    ids = IDS[:3]
    model = Rollout.start(
        ids,
        max_concurrency="2",
        max_errors="0",
        delivery_timeout_seconds=10 * HOUR,
        execution_timeout_seconds=2 * HOUR,
        durations={"i-000": 100, "i-001": 900, "i-002": 100},
        acknowledge_seconds=0,
    )
    assert model.invocation_at("i-002", 100).started_at == 100
    assert model.finished_at == 900


def test_ssm_ramps_up_one_instance_first_then_exponentially_more() -> None:
    """RATE: the queueing system delivers to a single node first, then two more, exponentially until
    max-concurrency is met."""
    model = rollout(20, max_concurrency="10", acknowledge_seconds=5)
    assert [running_at(model, t) for t in (0, 5, 10, 15)] == [1, 3, 7, 10]


# MaxErrors --------------------------------------------------------------------------------------------------


def test_max_errors_stops_new_sends_when_the_error_count_exceeds_it_not_when_it_reaches_it() -> None:
    """RATE: with max-errors 3 the system stops sending when the fourth error is received."""
    failing = dict.fromkeys(IDS[:5], Outcome.FAILED)
    model = rollout(10, max_concurrency="1", max_errors="3", outcomes=failing)
    assert finals(model) == {"Failed": 4, "Terminated": 6}
    assert model.stopped_at == 4 * 600


def test_max_errors_zero_stops_after_the_first_error() -> None:
    """RATE: max-errors 0 stops sending to additional nodes after the first error result."""
    model = rollout(10, max_concurrency="1", max_errors="0", outcomes={"i-001": Outcome.FAILED})
    assert finals(model) == {"Success": 1, "Failed": 1, "Terminated": 8}


def test_max_errors_as_a_percentage_of_fifty_stops_at_the_sixth_error() -> None:
    """RATE: 50 nodes with max-errors 10% stop when the sixth error is received."""
    failing = dict.fromkeys(IDS[:10], Outcome.FAILED)
    model = rollout(50, max_concurrency="1", max_errors="10%", outcomes=failing)
    assert finals(model)["Failed"] == 6
    assert finals(model)["Terminated"] == 44


def test_invocations_already_running_finish_after_the_stop_and_may_fail_too() -> None:
    """RATE: invocations already running when max-errors is reached are allowed to complete; some may fail."""
    ids = IDS[:6]
    model = Rollout.start(
        ids,
        max_concurrency="3",
        max_errors="0",
        delivery_timeout_seconds=10 * HOUR,
        execution_timeout_seconds=2 * HOUR,
        durations={"i-000": 100, "i-001": 900, "i-002": 1200, **dict.fromkeys(ids[3:], 100)},
        outcomes={"i-000": Outcome.FAILED, "i-002": Outcome.FAILED},
        acknowledge_seconds=0,
    )
    assert model.stopped_at == 100
    assert model.invocation_at("i-001", 900).status_details == "Success"
    assert model.invocation_at("i-002", 1200).status_details == "Failed"
    assert finals(model) == {"Failed": 2, "Success": 1, "Terminated": 3}
    assert model.invocation_at("i-003", 100).status_details == "Terminated"


def test_a_stopped_command_is_failed_and_its_unstarted_invocations_terminated() -> None:
    """STATUS: Terminated - the parent command exceeded its max-errors limit and the invocations not yet sent
    were cancelled by the system; the command shows Failed."""
    model = rollout(4, max_concurrency="1", outcomes={"i-000": Outcome.FAILED})
    never_started = model.invocation_at("i-003", model.finished_at)
    assert never_started.status_details == "Terminated"
    assert never_started.started_at is None
    assert model.command_status_at(model.finished_at) == ("Failed", "Failed")


def test_execution_timeouts_count_against_max_errors() -> None:
    """STATUS: Execution Timed Out counts against the max-errors limit of the parent command."""
    model = rollout(5, max_concurrency="1", execution=300, outcomes={"i-000": Outcome.HANGS})
    assert finals(model) == {"ExecutionTimedOut": 1, "Terminated": 4}


def test_delivery_timeouts_do_not_count_against_max_errors() -> None:
    """STATUS: Delivery Timed Out does not count against the parent command's max-errors limit."""
    model = rollout(5, max_concurrency="5", delivery=900, outcomes={"i-000": Outcome.UNREACHABLE})
    assert finals(model) == {"DeliveryTimedOut": 1, "Success": 4}
    assert model.stopped_at is None


# Timeouts ---------------------------------------------------------------------------------------------------


def test_instances_still_queued_at_the_delivery_timeout_end_delivery_timed_out_without_being_tried() -> None:
    """API: TimeoutSeconds - if it is reached and the command has not started on a node, it does not run there.
    It counts from the send, so nodes queued behind max-concurrency time out untried."""
    model = rollout(20, seconds=1200, max_concurrency="10%", delivery=600)
    untried = [i for i in model.invocations_at(model.finished_at) if i.status_details == "DeliveryTimedOut"]
    assert len(untried) == 18
    assert all(i.started_at is None and i.ended_at == 600 for i in untried)
    assert finals(model)["Success"] == 2


def test_an_agent_that_never_picks_the_command_up_is_delayed_then_delivery_timed_out() -> None:
    """STATUS: Delayed - the system attempted to send but the node was not available, and retries; Delivery Timed
    Out once the delivery timeout expires."""
    model = rollout(1, delivery=600, outcomes={"i-000": Outcome.UNREACHABLE})
    assert model.invocation_at("i-000", 300).status_details == "Delayed"
    final = model.invocation_at("i-000", 600)
    assert (final.status, final.status_details) == ("TimedOut", "DeliveryTimedOut")


def test_a_run_longer_than_the_execution_timeout_is_stopped_at_it() -> None:
    """STATUS: Execution Timed Out - execution started but did not complete before the execution timeout."""
    model = rollout(1, seconds=5000, execution=3600)
    final = model.invocation_at("i-000", model.finished_at)
    assert (final.status, final.status_details, final.ended_at) == ("TimedOut", "ExecutionTimedOut", 3600)


# CancelCommand and command status ---------------------------------------------------------------------------


def test_cancel_command_cancels_what_has_not_finished() -> None:
    """STATUS: Cancelled - the command was cancelled before it completed; finished invocations keep their end."""
    model = rollout(4, max_concurrency="2")
    model.cancel(at=900)
    assert finals(model) == {"Success": 2, "Cancelled": 2}
    assert model.command_status_at(900) == ("Cancelled", "Cancelled")
    assert model.finished_at == 900


def test_command_status_is_in_progress_until_every_invocation_is_terminal_then_success() -> None:
    """STATUS: In Progress until a final state on all nodes; Success when every invocation succeeded."""
    model = rollout(3, max_concurrency="1")
    assert model.command_status_at(1799) == ("InProgress", "InProgress")
    assert model.invocation_at("i-002", 100).status == "Pending"
    assert model.command_status_at(1800) == ("Success", "Success")


def test_errors_within_max_errors_leave_the_command_incomplete() -> None:
    """STATUS: Incomplete - attempted on all nodes, not all succeeded, not enough failed for Failed."""
    model = rollout(4, max_concurrency="1", max_errors="1", outcomes={"i-000": Outcome.FAILED})
    assert finals(model) == {"Failed": 1, "Success": 3}
    assert model.command_status_at(model.finished_at)[1] == "Incomplete"


# Time -------------------------------------------------------------------------------------------------------


def test_durations_are_drawn_from_a_seeded_distribution_around_the_mean() -> None:
    first = lognormal_durations(IDS, mean_seconds=1200, seed=11)
    assert first == lognormal_durations(IDS, mean_seconds=1200, seed=11)
    assert first != lognormal_durations(IDS, mean_seconds=1200, seed=12)
    assert 900 < sum(first.values()) / len(first) < 1500
    assert len(set(first.values())) == len(IDS)


def test_each_command_keeps_its_own_clock() -> None:
    """Two commands sent at once advance separately: asking one about later times leaves the other unmoved."""
    slow, fast = rollout(2, seconds=1200), rollout(2, seconds=300)
    assert [c.status_details for c in fast.advance_to(300)] == ["InProgress", "InProgress", "Success", "Success"]
    assert [c.status_details for c in slow.advance_to(300)] == ["InProgress", "InProgress"]
    assert [c.status_details for c in slow.advance_to(1200)] == ["Success", "Success"]
    assert fast.advance_to(5000) == []
    with pytest.raises(ValueError, match="cannot go back"):
        slow.advance_to(10)


def test_every_instance_that_runs_needs_a_duration() -> None:
    with pytest.raises(ValueError, match="no duration for i-000"):
        Rollout.start(
            ["i-000"],
            max_concurrency="1",
            max_errors="0",
            delivery_timeout_seconds=600,
            execution_timeout_seconds=3600,
            durations={},
        )


@pytest.mark.parametrize(("instances", "max_concurrency"), [(50, "10%"), (19, "10%"), (400, "10%"), (60, "7")])
def test_the_planned_deadline_covers_the_modelled_rollout_of_spread_out_instances(
    instances: int, max_concurrency: str
) -> None:
    """The deadline formula (handlers/contract/rollout.py) against the model: 40 seeded fleets of 20-minute
    instances, none slower than the plan, and the delivery timeout set to the deadline leaves nobody untried."""
    planned = plan(instances, max_concurrency, minutes_per_instance=20)
    ids = [f"i-{n:04d}" for n in range(instances)]
    for seed in range(40):
        model = Rollout.start(
            ids,
            max_concurrency=max_concurrency,
            max_errors="100%",
            delivery_timeout_seconds=delivery_timeout_seconds(planned.deadline_seconds),
            execution_timeout_seconds=2 * HOUR,
            durations=lognormal_durations(ids, mean_seconds=1200, seed=seed),
        )
        assert model.finished_at <= planned.deadline_seconds
        assert finals(model) == {"Success": instances}
