"""Re-running a finished run's failures touches only the instances that did not succeed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from handlers.contract import conventions, table
from handlers.contract.errors import InvalidRunDocument
from handlers.domain import rerun
from handlers.records.codec import to_item
from handlers.records.repository import RunTable
from rehearsal.fleet import Behaviour
from rehearsal.hub import HUB_REGION, Rehearsal
from scripts.rerun_failures import main as write_rerun_document

A, B, C = "111111111111", "222222222222", "333333333333"
REGION = "eu-west-1"
FIRST = {
    "operation": "Install",
    "rebootOption": "NoReboot",
    "selector": {"tags": {"PatchGroup": ["web"]}},
    "preCollect": {"enabled": False},
    "waves": [
        {
            "name": "all",
            "targets": [{"accounts": [A, B, C], "regions": [REGION]}],
            "failureBudget": {"failedPercent": 100},
        }
    ],
}


def test_a_rerun_patches_only_what_did_not_succeed(hub: Rehearsal, tmp_path: Path) -> None:
    hub.fleet.add(A, REGION, 2)
    broken_a = hub.fleet.add(A, REGION, 2, patch=Behaviour(status="Failed", response_code=1))
    broken_b = hub.fleet.add(B, REGION, 1, patch=Behaviour(status="TimedOut"))
    hub.fleet.add(B, REGION, 1)
    hub.fleet.add(C, REGION, 2)
    first = hub.run(FIRST, "first")
    assert json.loads(first["output"])["outcome"] == 206
    before = hub.items("first")
    for instance in hub.fleet.instances[(A, REGION)] + hub.fleet.instances[(B, REGION)]:
        instance.patch = Behaviour()  # fixed between the runs
    sent_before = len(hub.fleet.sent())
    path = tmp_path / "rerun.json"
    dynamodb = boto3.client("dynamodb", region_name=HUB_REGION)
    assert write_rerun_document(["first", "--table", hub.table_name, "--output", str(path)], dynamodb=dynamodb) == 0
    document = json.loads(path.read_text())
    assert document["rerun"] == {"of": "first"}

    second = hub.run(document, "first-rerun")

    assert second["status"] == "SUCCEEDED", second.get("cause")
    assert json.loads(second["output"])["outcome"] == 200
    commands = hub.fleet.sent()[sent_before:]
    assert {c.account_id: sorted(c.request["InstanceIds"]) for c in commands} == {
        A: sorted(broken_a),
        B: sorted(broken_b),
    }
    assert all(c.document == conventions.patch_document_name() and "Targets" not in c.request for c in commands)
    finals = {i["instanceId"]: i["final"]["status"] for i in hub.items("first-rerun", "INSTANCE#")}
    assert finals == dict.fromkeys([*broken_a, *broken_b], "Succeeded")
    skipped = hub.item("first-rerun", table.target_sk(0, C, REGION))
    assert skipped is not None
    assert skipped["status"] == "SKIPPED"
    assert hub.items("first") == before  # the earlier run's records are untouched


def test_a_rerun_of_an_unknown_run_is_refused_before_anything_is_sent(hub: Rehearsal) -> None:
    hub.fleet.add(A, REGION, 1)

    result = hub.run({**FIRST, "rerun": {"of": "never-ran"}}, "orphan-rerun")

    assert (result["status"], result["error"]) == ("FAILED", "InvalidRunDocument")
    assert "rerun.of: no run 'never-ran' has been recorded" in result["cause"]
    assert hub.fleet.sent() == []


def put(hub: Rehearsal, item: dict[str, Any]) -> None:
    boto3.client("dynamodb", region_name=HUB_REGION).put_item(TableName=hub.table_name, Item=to_item(item))


def test_a_rerun_is_limited_to_fifty_instances_per_account_and_region(hub: Rehearsal) -> None:
    put(hub, {"pk": "RUN#big", "sk": "META", "status": "PARTIAL"})
    for n in range(51):
        put(hub, {
            "pk": "RUN#big", "sk": table.instance_sk(A, REGION, f"i-{n:017x}"), "accountId": A, "region": REGION,
            "instanceId": f"i-{n:017x}", "final": {"status": "Failed", "reason": "x"},
        })  # fmt: skip
    dynamodb = boto3.client("dynamodb", region_name=HUB_REGION)

    with pytest.raises(InvalidRunDocument, match="51 instances in 111111111111/eu-west-1 did not succeed"):
        rerun.select(RunTable(dynamodb, hub.table_name), "big", FIRST["waves"])


def test_a_rerun_of_a_run_still_in_progress_is_refused(hub: Rehearsal) -> None:
    put(hub, {"pk": "RUN#busy", "sk": "META", "status": "RUNNING"})
    dynamodb = boto3.client("dynamodb", region_name=HUB_REGION)

    with pytest.raises(InvalidRunDocument, match=r"rerun\.of: run 'busy' has not finished"):
        rerun.select(RunTable(dynamodb, hub.table_name), "busy", FIRST["waves"])
