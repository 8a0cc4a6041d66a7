"""PollCommand: one status call while a command runs; every instance's result once it ends; nothing past the
deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.contract.errors import CommandDeadlineExceeded, InvalidEvent, NotThisRun
from rehearsal.fleet import NEVER, Behaviour
from rehearsal.hub import Rehearsal
from tests.handlers.targets import ACCOUNT, DOCUMENT, REGION, instance, poll, record_run, send


def test_poll_waits_then_records_every_instance_once_the_command_ends(hub: Rehearsal) -> None:
    record_run(hub)
    ids = hub.fleet.add(ACCOUNT, REGION, 60, patch=Behaviour(seconds=300))  # two invocation pages
    failing = hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status="Failed", response_code=2, stderr="no space"))
    command = send(hub)

    waiting = poll(hub, command)
    assert (waiting["done"], waiting["status"], waiting["nextWaitSeconds"]) == (False, "InProgress", 60)
    assert hub.fleet.count("list_command_invocations") == 0  # one status call while running
    assert hub.items("run-1", "INSTANCE#") == []  # nothing is recorded until the command ends

    hub.clock.advance(300)
    finished = poll(hub, command)

    assert (finished["done"], finished["status"]) == (True, "Failed")
    assert hub.fleet.count("list_command_invocations") == 2
    assert instance(hub, ids[59])["patch"]["status"] == "Success"
    failed = instance(hub, failing[0])["patch"]
    assert (failed["status"], failed["responseCode"]) == ("Failed", 2)
    assert "no space" in failed["reason"]


def test_the_poll_result_carries_the_command_the_workflow_loops_on(hub: Rehearsal) -> None:
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(seconds=300))
    command = send(hub)

    waiting = poll(hub, command)

    assert {key: waiting[key] for key in ("commandId", "phase", "deadline")} == {
        key: command[key] for key in ("commandId", "phase", "deadline")
    }
    assert set(waiting) >= {"done", "nextWaitSeconds", "status"}


def test_poll_never_waits_past_the_deadline(hub: Rehearsal) -> None:
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status=NEVER))
    command = send(hub)
    hub.clock.advance(30 * 60 - 20)

    assert poll(hub, command)["nextWaitSeconds"] == 20


def test_polls_thin_out_as_a_command_runs_long(hub: Rehearsal) -> None:
    record_run(hub, DOCUMENT | {"patchTimeoutMinutes": 240}, run_id="long-run")
    hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status=NEVER))
    target = {"runId": "long-run", "executionId": hub.execution_arn("long-run"), "waveIndex": 0}
    target |= {"accountId": ACCOUNT, "region": REGION}
    command = hub.invoke("SendCommand", {**target, "phase": "patch"})

    def next_wait() -> int:
        polled = {**target, "command": {"commandId": command["commandId"], "phase": "patch"}}
        return int(hub.invoke("PollCommand", polled)["nextWaitSeconds"])

    assert next_wait() == 60  # just sent
    hub.clock.advance(2400)
    assert next_wait() == 600  # a quarter of the 40 minutes it has run
    hub.clock.advance(4800)
    assert next_wait() == 900  # never longer


def test_a_command_past_its_deadline_is_cancelled_and_ends_the_target(hub: Rehearsal) -> None:
    record_run(hub)
    done = hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(seconds=60))[0]
    stuck = hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status=NEVER))[0]
    command = send(hub)
    hub.clock.advance(timedelta(minutes=31).total_seconds())

    with pytest.raises(CommandDeadlineExceeded, match="still InProgress at its deadline"):
        poll(hub, command)

    assert hub.fleet.count("cancel_command") == 1
    assert instance(hub, done)["patch"]["status"] == "Success"
    assert instance(hub, stuck)["patch"]["status"] == "Cancelled"


def test_the_deadline_is_the_ledgers_whatever_the_event_says(hub: Rehearsal) -> None:
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status=NEVER))
    command = send(hub)

    polled = poll(hub, command | {"deadline": "2026-12-08T09:00:01Z"})  # a deadline already past

    assert (polled["done"], polled["deadline"]) == (False, command["deadline"])
    assert hub.fleet.count("cancel_command") == 0


def test_only_the_command_the_run_sent_is_polled(hub: Rehearsal) -> None:
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status=NEVER))
    send(hub)
    unknown = {"commandId": "00000000-0000-0000-0000-000000000000", "phase": "patch"}

    with pytest.raises(NotThisRun, match="is not the patch command run 'run-1' sent to 222222222222/eu-west-1"):
        poll(hub, unknown)
    with pytest.raises(InvalidEvent, match=r"event\.command\.phase: 'reboot' is not one of snapshot, patch"):
        poll(hub, unknown | {"phase": "reboot"})
    assert hub.fleet.count("list_commands") == 0
    assert hub.items("run-1", "INSTANCE#") == []
