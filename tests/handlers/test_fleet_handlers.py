"""Discover, PollCommand, StoreSnapshots and RecordTarget against the simulated fleet."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from handlers.common import records
from handlers.contract.errors import CommandDeadlineExceeded, InvalidEvent, SpokeAccessDenied
from tests.support import approvals
from tests.support.fleet import NEVER, OUTPUT_LIMIT, Behaviour
from tests.support.functions import hub_functions
from tests.support.rehearsal import EXTERNAL_ID, Rehearsal

ACCOUNT = "222222222222"
REGION = "eu-west-1"
TARGET = {"runId": "run-1", "waveIndex": 0, "accountId": ACCOUNT, "region": REGION}
SETTINGS = {
    "operation": "Install",
    "rebootOption": "NoReboot",
    "snapshotId": "4b95ca39-fcc6-525c-a327-2cd6b91fab87",
    "selector": {"tags": {"PatchGroup": ["web"]}},
    "patchTimeoutMinutes": 30,
}
WAVE = {"index": 0, "maxConcurrency": "10%", "maxErrors": "0"}


def send(hub: Rehearsal, phase: str = "patch") -> dict[str, Any]:
    return hub.invoke("SendCommand", {**TARGET, "phase": phase, "settings": SETTINGS, "wave": WAVE})


def poll(hub: Rehearsal, command: dict[str, Any]) -> dict[str, Any]:
    return hub.invoke("PollCommand", {**TARGET, "command": command, "settings": SETTINGS})


def instance(hub: Rehearsal, instance_id: str) -> dict[str, Any]:
    found = hub.item("run-1", records.instance_sk(ACCOUNT, REGION, instance_id))
    assert found is not None
    return found


def test_discover_counts_reachable_and_records_why_the_rest_are_not(hub: Rehearsal) -> None:
    online = hub.fleet.add(ACCOUNT, REGION, 55)  # more than one DescribeInstanceInformation filter batch
    offline = hub.fleet.add(ACCOUNT, REGION, 1, ping="ConnectionLost")[0]
    unmanaged = hub.fleet.add(ACCOUNT, REGION, 1, ping=None)[0]
    stopped = hub.fleet.add(ACCOUNT, REGION, 1, stopped=True)[0]
    windows = hub.fleet.add(ACCOUNT, REGION, 1, platform="Windows")[0]
    hub.fleet.add(ACCOUNT, REGION, 3, tags={"PatchGroup": "db"})  # other selector value
    hub.fleet.add("999999999999", REGION, 2)  # other account

    counts = hub.invoke("Discover", {**TARGET, "selector": SETTINGS["selector"]})

    assert counts == {"targeted": 56, "unreachable": 3, "platforms": {"linux": 55, "windows": 1}}
    assert len(hub.items("run-1", "INSTANCE#")) == 59
    assert instance(hub, offline)["discovery"] == {
        "reachable": False,
        "reason": "ssm-connectionlost",
        "state": "running",
    }
    assert instance(hub, unmanaged)["discovery"]["reason"] == "not-managed-by-ssm"
    assert instance(hub, stopped)["discovery"]["reason"] == "instance-stopped"
    assert instance(hub, windows)["platform"] == "windows"
    assert instance(hub, online[0])["discovery"]["reachable"] is True


def test_poll_waits_then_records_every_instance_once_the_command_ends(hub: Rehearsal) -> None:
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


def test_poll_never_waits_past_the_deadline(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status=NEVER))
    command = send(hub)
    hub.clock.advance(30 * 60 - 20)

    assert poll(hub, command)["nextWaitSeconds"] == 20


def test_polls_thin_out_as_a_command_runs_long(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status=NEVER))
    settings = SETTINGS | {"patchTimeoutMinutes": 240}
    command = hub.invoke("SendCommand", {**TARGET, "phase": "patch", "settings": settings, "wave": WAVE})

    def next_wait() -> int:
        return int(hub.invoke("PollCommand", {**TARGET, "command": command, "settings": settings})["nextWaitSeconds"])

    assert next_wait() == 60  # just sent
    hub.clock.advance(2400)
    assert next_wait() == 600  # a quarter of the 40 minutes it has run
    hub.clock.advance(4800)
    assert next_wait() == 900  # never longer


def test_a_command_past_its_deadline_is_cancelled_and_ends_the_target(hub: Rehearsal) -> None:
    done = hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(seconds=60))[0]
    stuck = hub.fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status=NEVER))[0]
    command = send(hub)
    hub.clock.advance(timedelta(minutes=31).total_seconds())

    with pytest.raises(CommandDeadlineExceeded, match="still InProgress at its deadline"):
        poll(hub, command)

    assert hub.fleet.count("cancel_command") == 1
    assert instance(hub, done)["patch"]["status"] == "Success"
    assert instance(hub, stuck)["patch"]["status"] == "Cancelled"


def test_snapshots_land_in_the_runbook_layout_with_truncation_recorded(hub: Rehearsal) -> None:
    long_output = "x" * (OUTPUT_LIMIT + 500)
    linux = hub.fleet.add(ACCOUNT, REGION, 1, snapshot=Behaviour(seconds=5, stdout=long_output))[0]
    windows = hub.fleet.add(ACCOUNT, REGION, 1, platform="Windows", snapshot=Behaviour(seconds=5, stdout="KB500"))[0]
    hub.invoke("Discover", {**TARGET, "selector": SETTINGS["selector"]})
    command = send(hub, "snapshot")
    hub.clock.advance(10)
    assert poll(hub, command)["done"] is True

    stored = hub.invoke("StoreSnapshots", {**TARGET, "command": command})

    assert stored == {"stored": 2, "failed": 0, "skipped": 0}
    base = f"runs/run-1/pre/account-{ACCOUNT}/region-{REGION}"
    assert hub.s3_keys(f"{base}/linux/{linux}/") == [
        f"{base}/linux/{linux}/{f}" for f in ("meta.json", "stderr.txt", "stdout.txt")
    ]
    assert hub.s3_text(f"{base}/windows/{windows}/stdout.txt") == "KB500"
    meta = json.loads(hub.s3_text(f"{base}/linux/{linux}/meta.json"))
    assert meta["stdoutTruncated"] is True
    assert (meta["commandId"], meta["status"], meta["responseCode"]) == (command["commandId"], "Success", 0)
    assert meta["executionStartDateTime"]
    assert meta["executionEndDateTime"]
    assert instance(hub, linux)["snapshot"]["s3Prefix"] == f"{base}/linux/{linux}/"


def test_storing_snapshots_again_skips_what_is_already_stored(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, REGION, 3, snapshot=Behaviour(seconds=5, stdout="pkgs"))
    hub.invoke("Discover", {**TARGET, "selector": SETTINGS["selector"]})
    command = send(hub, "snapshot")
    hub.clock.advance(10)
    poll(hub, command)
    assert hub.invoke("StoreSnapshots", {**TARGET, "command": command})["stored"] == 3
    calls = hub.fleet.count("get_command_invocation")

    again = hub.invoke("StoreSnapshots", {**TARGET, "command": command})  # a retry after a timeout

    assert again == {"stored": 0, "failed": 0, "skipped": 3}
    assert hub.fleet.count("get_command_invocation") == calls


def test_a_target_that_errored_records_every_instance_with_the_reason(hub: Rehearsal) -> None:
    ids = hub.fleet.add(ACCOUNT, REGION, 3)
    hub.invoke("Discover", {**TARGET, "selector": SETTINGS["selector"]})
    error = {"Error": "CommandRejected", "Cause": json.dumps({"errorMessage": "AWS-RunPatchBaseline: access denied"})}

    result = hub.invoke("RecordTarget", {**TARGET, "error": error})

    assert result == {"status": "ERRORED", "outcome": 500}
    for instance_id in ids:
        assert instance(hub, instance_id)["final"] == {
            "status": "NotPatched",
            "reason": "CommandRejected: AWS-RunPatchBaseline: access denied",
        }
    target = hub.item("run-1", records.target_sk(0, ACCOUNT, REGION))
    assert target is not None
    assert target["counts"]["notPatched"] == 3


def test_a_target_with_no_matching_instances_is_skipped(hub: Rehearsal) -> None:
    assert hub.invoke("Discover", {**TARGET, "selector": SETTINGS["selector"]})["targeted"] == 0
    assert hub.invoke("RecordTarget", TARGET) == {"status": "SKIPPED", "outcome": 200}
    assert hub.fleet.sent() == []


def test_handlers_refuse_events_missing_fields_naming_them(hub: Rehearsal) -> None:
    with pytest.raises(InvalidEvent, match=r"event\.accountId: required"):
        hub.invoke("Discover", {"runId": "run-1", "waveIndex": 0, "region": REGION, "selector": {"tags": {}}})
    with pytest.raises(InvalidEvent, match=r"event\.waveIndex: expected int, got str"):
        hub.invoke("RecordTarget", {**TARGET, "waveIndex": "0"})
    with pytest.raises(InvalidEvent, match=r"event\.command\.deadline: required"):
        hub.invoke("PollCommand", {**TARGET, "command": {"commandId": "x", "phase": "patch"}, "settings": SETTINGS})
    with pytest.raises(InvalidEvent, match=r"event\.wave\.failureBudget: required"):
        hub.invoke("EvaluateWave", {"runId": "run-1", "wave": {"index": 0, "name": "w", "targetCount": 1}})


def test_spoke_roles_are_assumed_with_the_external_id_and_the_run_as_source_identity(hub: Rehearsal) -> None:
    hub.invoke("Discover", {**TARGET, "selector": SETTINGS["selector"]})

    assert hub.assumed == [
        {
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/patch-orchestrator-spoke-{REGION}",
            "externalId": EXTERNAL_ID,
            "sourceIdentity": "run-1",
        }
    ]


def test_a_spoke_role_that_cannot_be_assumed_is_a_clear_error(hub: Rehearsal) -> None:
    hub.denied_accounts.add(ACCOUNT)

    with pytest.raises(SpokeAccessDenied, match=f"cannot assume arn:aws:iam::{ACCOUNT}:role/patch-orchestrator-spoke-"):
        hub.invoke("Discover", {**TARGET, "selector": SETTINGS["selector"]})


API_FUNCTIONS = {"ApprovalPage", "ApprovalDecision"}  # behind API Gateway: they answer with pages, never raise
INVOKED_FUNCTIONS = [function.name for function in hub_functions() if function.name not in API_FUNCTIONS]


# CancelRun receives EventBridge's event: the run id is the execution's name.
FIRST_FIELD = {"CancelRun": "detail.name"}


@pytest.mark.parametrize("function", INVOKED_FUNCTIONS)
def test_every_handler_refuses_an_empty_event_with_a_typed_error(hub: Rehearsal, function: str) -> None:
    field = re.escape(FIRST_FIELD.get(function, "runId"))
    with pytest.raises(InvalidEvent, match=rf"^event\.{field}: required$"):
        hub.invoke(function, {})


@pytest.mark.parametrize("function", sorted(API_FUNCTIONS))
def test_the_approval_api_answers_a_route_it_does_not_serve_with_a_not_found_page(
    hub: Rehearsal, function: str
) -> None:
    wrong_method = "POST" if function == "ApprovalPage" else "GET"
    for event in (approvals.api_event("GET", "/admin"), approvals.api_event(wrong_method, "/approvals/abc")):
        response = hub.invoke(function, event)
        assert response["statusCode"] == 404, event["path"]
        assert "Not found" in response["body"]
