"""A hand-made invoke of a fleet function does nothing and says why, whatever it claims.

Anyone with ``lambda:InvokeFunction`` can hand a fleet function any event. Each must refuse one that does not belong
to a RUNNING run of the calling execution, to a target of that run's stored plan, and to a wave approved when it
needs approval: before assuming a spoke role, sending a command or writing a record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from handlers.contract.errors import NotThisRun
from rehearsal.hub import HUB_ACCOUNT, HUB_REGION, Rehearsal
from tests.handlers.targets import (
    ACCOUNT,
    DOCUMENT,
    REGION,
    RUN_ID,
    discover,
    record_run,
    record_wave_approval,
    send,
    target,
)

# Each fleet function with the rest of the event the workflow would send it (a command as the ledger has none).
FLEET_EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "Discover": ("Discover", {}),
    "SendCommand": ("SendCommand", {"phase": "patch"}),
    "PollCommand": (
        "PollCommand",
        {"command": {"commandId": "8d3b2b4e-0000-0000-0000-000000000000", "phase": "patch"}},
    ),
    "StoreSnapshots": ("StoreSnapshots", {"command": {"commandId": "8d3b2b4e-0000-0000-0000-000000000000"}}),
    "RecordTarget": ("RecordTarget", {}),
    "RecordTargetFailure": ("RecordTarget", {"error": {"Error": "States.TaskFailed", "Cause": "made up"}}),
}
GATED = DOCUMENT | {
    "waves": [
        DOCUMENT["waves"][0] | {"approval": {"required": True, "timeoutMinutes": 60, "approvers": ["ops@example.com"]}}
    ]
}


def no_run(hub: Rehearsal) -> dict[str, Any]:
    return target(hub)


def finished_run(hub: Rehearsal) -> dict[str, Any]:
    event = record_run(hub)
    hub.invoke("Finalize", {"runId": RUN_ID, "halt": {}})
    return event


def another_execution(hub: Rehearsal) -> dict[str, Any]:
    return record_run(hub) | {"executionId": hub.execution_arn("someone-elses")}


def a_child_execution(hub: Rehearsal) -> dict[str, Any]:
    # A Distributed Map child's own id: the workflow carries its parent's instead.
    child = f"arn:aws:states:{HUB_REGION}:{HUB_ACCOUNT}:execution:patch-orchestrator-patch-run/Accounts:0a1b2c3d"
    return record_run(hub) | {"executionId": child}


def an_account_outside_the_plan(hub: Rehearsal) -> dict[str, Any]:
    return record_run(hub) | {"accountId": "999999999999"}


def a_region_outside_the_plan(hub: Rehearsal) -> dict[str, Any]:
    return record_run(hub) | {"region": "us-east-1"}


def a_wave_outside_the_plan(hub: Rehearsal) -> dict[str, Any]:
    return record_run(hub) | {"waveIndex": 3}


def an_unapproved_gated_wave(hub: Rehearsal) -> dict[str, Any]:
    return record_run(hub, GATED)


CASES: dict[str, tuple[Callable[[Rehearsal], dict[str, Any]], str]] = {
    "no run": (no_run, r"^run 'run-1': no such run is recorded$"),
    "run not running": (finished_run, r"^run 'run-1' is (SUCCEEDED|PARTIAL|FAILED|HALTED), not RUNNING$"),
    "another execution": (another_execution, r"^run 'run-1' was not started by execution '.*:someone-elses'$"),
    "a child execution": (a_child_execution, r"^run 'run-1' was not started by execution '.*/Accounts:0a1b2c3d'$"),
    "account outside the plan": (an_account_outside_the_plan, r"^999999999999/eu-west-1 is not a target of wave"),
    "region outside the plan": (a_region_outside_the_plan, r"^222222222222/us-east-1 is not a target of wave"),
    "wave outside the plan": (a_wave_outside_the_plan, r"^run 'run-1' has no wave 3 \(1 planned\)$"),
    "unapproved gated wave": (an_unapproved_gated_wave, r"^wave 'first' of 'run-1' needs approval and is not yet"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("function", list(FLEET_EVENTS))
def test_a_hand_made_invoke_touches_nothing_and_says_why(hub: Rehearsal, function: str, case: str) -> None:
    hub.fleet.add(ACCOUNT, REGION, 2)
    hub.fleet.add("999999999999", REGION, 1)
    setup, reason = CASES[case]
    event = setup(hub)
    records, objects = hub.items(RUN_ID), hub.s3_keys("runs/")
    name, rest = FLEET_EVENTS[function]

    with pytest.raises(NotThisRun, match=reason):
        hub.invoke(name, event | rest)

    assert hub.assumed == []  # no spoke role was even assumed
    assert hub.fleet.calls == []
    assert hub.fleet.sent() == []
    assert hub.items(RUN_ID) == records
    assert hub.s3_keys("runs/") == objects


def test_a_gated_wave_is_refused_while_pending_and_served_once_the_workflow_recorded_its_approval(
    hub: Rehearsal,
) -> None:
    hub.fleet.add(ACCOUNT, REGION, 2)
    record_run(hub, GATED)

    with pytest.raises(NotThisRun, match="needs approval and is not yet requested"):
        send(hub)
    record_wave_approval(hub, 0)
    sent = send(hub)

    assert [command.command_id for command in hub.fleet.sent()] == [sent["commandId"]]


def test_a_wave_record_marked_approved_without_a_decided_approval_is_not_an_approval(hub: Rehearsal) -> None:
    """The wave record is writable by whoever may write run items; the approval item only ApprovalDecision may
    write. The guard believes the latter."""
    hub.fleet.add(ACCOUNT, REGION, 2)
    record_run(hub, GATED)
    record_wave_approval(hub, 0, decided=False)

    with pytest.raises(NotThisRun, match="is recorded APPROVED, but approval approval-00 holds no approving decision"):
        send(hub)
    assert hub.fleet.sent() == []


def test_a_rejected_or_timed_out_approval_is_not_an_approval(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, REGION, 2)
    record_run(hub, GATED)
    for status in ("PENDING", "REJECTED", "TIMED_OUT"):
        record_wave_approval(hub, 0, status)

        with pytest.raises(NotThisRun, match=f"needs approval and is {status}$"):
            discover(hub)
    assert hub.fleet.calls == []


def test_snapshots_are_refused_when_the_run_does_not_collect_them(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, REGION, 2)
    record_run(hub, DOCUMENT | {"preCollect": {"enabled": False}})

    with pytest.raises(NotThisRun, match="does not collect pre-patch snapshots"):
        send(hub, "snapshot")
    assert hub.fleet.calls == []


def test_only_the_ledgers_snapshot_command_is_stored(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, REGION, 2)
    record_run(hub)
    patch = send(hub)  # a real command of the run, but not its snapshot

    with pytest.raises(NotThisRun, match=f"command {patch['commandId']} is not the snapshot command"):
        hub.invoke("StoreSnapshots", {**target(hub), "command": {"commandId": patch["commandId"]}})
    assert hub.s3_keys("runs/") == []
