"""StoreSnapshots: each instance's pre-patch snapshot in the runbook's layout, resumable after a timeout."""

from __future__ import annotations

import json
from typing import Any

from rehearsal.fleet import OUTPUT_LIMIT, Behaviour
from rehearsal.hub import Rehearsal
from tests.handlers.targets import ACCOUNT, REGION, discover, instance, poll, record_run, send, target


def store(hub: Rehearsal, command: dict[str, Any]) -> dict[str, Any]:
    return hub.invoke("StoreSnapshots", {**target(hub), "command": {"commandId": command["commandId"]}})


def test_snapshots_land_in_the_runbook_layout_with_truncation_recorded(hub: Rehearsal) -> None:
    record_run(hub)
    long_output = "x" * (OUTPUT_LIMIT + 500)
    linux = hub.fleet.add(ACCOUNT, REGION, 1, snapshot=Behaviour(seconds=5, stdout=long_output))[0]
    windows = hub.fleet.add(ACCOUNT, REGION, 1, platform="Windows", snapshot=Behaviour(seconds=5, stdout="KB500"))[0]
    discover(hub)
    command = send(hub, "snapshot")
    hub.clock.advance(10)
    assert poll(hub, command)["done"] is True

    stored = store(hub, command)

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
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 3, snapshot=Behaviour(seconds=5, stdout="pkgs"))
    discover(hub)
    command = send(hub, "snapshot")
    hub.clock.advance(10)
    poll(hub, command)
    assert store(hub, command)["stored"] == 3
    calls = hub.fleet.count("get_command_invocation")

    again = store(hub, command)  # a retry after a timeout

    assert again == {"stored": 0, "failed": 0, "skipped": 3}
    assert hub.fleet.count("get_command_invocation") == calls
