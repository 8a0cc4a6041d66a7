"""Events the workflow sends a target's handlers, and reading back what they recorded (one account, one region)."""

from __future__ import annotations

from typing import Any

import boto3

from handlers.contract import table
from handlers.records.repository import RunTable
from rehearsal.hub import HUB_REGION, Rehearsal

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


def discover(hub: Rehearsal) -> dict[str, Any]:
    return hub.invoke("Discover", {**TARGET, "selector": SETTINGS["selector"]})


def send(hub: Rehearsal, phase: str = "patch") -> dict[str, Any]:
    return hub.invoke("SendCommand", {**TARGET, "phase": phase, "settings": SETTINGS, "wave": WAVE})


def poll(hub: Rehearsal, command: dict[str, Any]) -> dict[str, Any]:
    return hub.invoke("PollCommand", {**TARGET, "command": command, "settings": SETTINGS})


def instance(hub: Rehearsal, instance_id: str) -> dict[str, Any]:
    found = hub.item("run-1", table.instance_sk(ACCOUNT, REGION, instance_id))
    assert found is not None
    return found


def run_table(hub: Rehearsal) -> RunTable:
    """The rehearsal's run table, as the handlers see it."""
    return RunTable(boto3.client("dynamodb", region_name=HUB_REGION), hub.table_name)
