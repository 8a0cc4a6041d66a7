"""RecordTarget: every instance of a target ends with a final state; the target with 200/206/500."""

from __future__ import annotations

import json

import pytest

from handlers.contract import table
from handlers.contract.errors import InvalidEvent
from rehearsal.fleet import NEVER, Behaviour
from rehearsal.hub import Rehearsal
from tests.handlers.targets import ACCOUNT, REGION, discover, instance, poll, record_run, send, target


def test_a_target_that_errored_records_every_instance_with_the_reason(hub: Rehearsal) -> None:
    record_run(hub)
    ids = hub.fleet.add(ACCOUNT, REGION, 3)
    discover(hub)
    error = {"Error": "CommandRejected", "Cause": json.dumps({"errorMessage": "AWS-RunPatchBaseline: access denied"})}

    result = hub.invoke("RecordTarget", {**target(hub), "error": error})

    assert result == {"status": "ERRORED", "outcome": 500}
    for instance_id in ids:
        assert instance(hub, instance_id)["final"] == {
            "status": "NotPatched",
            "reason": "CommandRejected: AWS-RunPatchBaseline: access denied",
        }
    recorded = hub.item("run-1", table.target_sk(0, ACCOUNT, REGION))
    assert recorded is not None
    assert recorded["counts"]["notPatched"] == 3


def test_a_target_with_no_matching_instances_is_skipped(hub: Rehearsal) -> None:
    record_run(hub)
    assert discover(hub)["targeted"] == 0
    assert hub.invoke("RecordTarget", target(hub)) == {"status": "SKIPPED", "outcome": 200}
    assert hub.fleet.sent() == []


def test_a_patched_target_is_completed_with_each_instance_final(hub: Rehearsal) -> None:
    record_run(hub)
    patched = hub.fleet.add(ACCOUNT, REGION, 2, patch=Behaviour(seconds=60))
    failed = hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status="Failed", seconds=60, stderr="dnf: 404"))[0]
    discover(hub)
    command = send(hub)
    hub.clock.advance(60)
    poll(hub, command)

    assert hub.invoke("RecordTarget", target(hub)) == {"status": "COMPLETED", "outcome": 206}
    assert {instance(hub, i)["final"]["status"] for i in patched} == {"Succeeded"}
    assert instance(hub, failed)["final"]["status"] == "Failed"


def test_the_failure_path_settles_a_patch_command_still_running(hub: Rehearsal) -> None:
    record_run(hub)
    stuck = hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status=NEVER))[0]
    discover(hub)
    send(hub)
    error = {"Error": "TransientAwsError", "Cause": "polling kept failing"}

    assert hub.invoke("RecordTarget", {**target(hub), "error": error}) == {"status": "ERRORED", "outcome": 500}

    assert hub.fleet.count("cancel_command") == 1
    assert instance(hub, stuck)["patch"]["status"] == "Cancelled"
    assert instance(hub, stuck)["final"]["reason"] == "Cancelled"


def test_record_target_refuses_a_wave_index_that_is_not_a_number(hub: Rehearsal) -> None:
    record_run(hub)
    with pytest.raises(InvalidEvent, match=r"event\.waveIndex: expected int, got str"):
        hub.invoke("RecordTarget", {**target(hub), "waveIndex": "0"})
