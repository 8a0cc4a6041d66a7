"""A recorded run and the events the workflow sends its target's handlers, and reading back what they recorded
(one account, one region).

Fleet functions act only for a RUNNING run of the calling execution, on a target of its stored plan: a test first
records the run as ValidateRun does (``record_run``), for an execution it declares RUNNING, then sends the
events the workflow would.
"""

from __future__ import annotations

from typing import Any

import boto3

from handlers.contract import table
from handlers.records.codec import to_item
from handlers.records.repository import RunTable
from rehearsal.hub import HUB_REGION, Rehearsal

ACCOUNT = "222222222222"
REGION = "eu-west-1"
RUN_ID = "run-1"
SELECTOR = {"tags": {"PatchGroup": ["web"]}}
DOCUMENT: dict[str, Any] = {
    "operation": "Install",
    "rebootOption": "NoReboot",
    "selector": SELECTOR,
    "patchTimeoutMinutes": 30,
    # 10% of a target: up to 19 one-at-a-time batches, which must fit the 30 minutes.
    "expectedPatchMinutesPerInstance": 1,
    "waves": [
        {
            "name": "first",
            "targets": [{"accounts": [ACCOUNT], "regions": [REGION]}],
            "maxConcurrency": "10%",
            "maxErrors": "0",
        }
    ],
}


def record_run(hub: Rehearsal, document: dict[str, Any] | None = None, *, run_id: str = RUN_ID) -> dict[str, Any]:
    """The run recorded by ValidateRun for an execution declared RUNNING; the target event of its first wave."""
    execution_arn = hub.declare_execution(run_id, "RUNNING")
    hub.invoke("ValidateRun", {"runId": run_id, "executionId": execution_arn, "document": document or DOCUMENT})
    return target(hub, run_id=run_id)


def target(hub: Rehearsal, *, run_id: str = RUN_ID, wave_index: int = 0, account_id: str = ACCOUNT) -> dict[str, Any]:
    """What every event to a target's handlers starts with, as the workflow sends it."""
    return {
        "runId": run_id,
        "executionId": hub.execution_arn(run_id),
        "waveIndex": wave_index,
        "accountId": account_id,
        "region": REGION,
    }


def record_wave_approval(
    hub: Rehearsal,
    wave_index: int,
    status: str = table.WaveApprovalStatus.APPROVED,
    *,
    run_id: str = RUN_ID,
    decided: bool = True,
) -> None:
    """The wave's approval as the workflow records it (APPROVED once ApprovalDecision has decided, by
    RecordApproval; REJECTED, TIMED_OUT; PENDING while RequestApproval waits), and, when APPROVED and
    ``decided``, the approval item ApprovalDecision wrote."""
    approval_id = f"approval-{wave_index:02d}"
    wave = {
        "pk": table.run_pk(run_id),
        "sk": table.wave_sk(wave_index),
        "waveIndex": wave_index,
        "approval": {"status": status, "decidedBy": "ops@example.com", "approvalId": approval_id},
    }
    dynamodb = boto3.client("dynamodb", region_name=HUB_REGION)
    dynamodb.put_item(TableName=hub.table_name, Item=to_item(wave))
    if status == table.WaveApprovalStatus.APPROVED and decided:
        approval = {
            "pk": table.approval_pk(approval_id),
            "sk": table.META,
            "runId": run_id,
            "waveIndex": wave_index,
            "status": table.ApprovalStatus.DECIDED,
            "decision": table.Decision.APPROVED,
            "approvedBy": {"ops@example.com"},
        }
        dynamodb.put_item(TableName=hub.table_name, Item=to_item(approval))


def discover(hub: Rehearsal) -> dict[str, Any]:
    return hub.invoke("Discover", target(hub))


def send(hub: Rehearsal, phase: str = "patch", **event: Any) -> dict[str, Any]:
    return hub.invoke("SendCommand", {**target(hub), "phase": phase, **event})


def poll(hub: Rehearsal, command: dict[str, Any], **event: Any) -> dict[str, Any]:
    sent = {"commandId": command["commandId"], "phase": command["phase"]}
    return hub.invoke("PollCommand", {**target(hub), "command": sent, **event})


def instance(hub: Rehearsal, instance_id: str) -> dict[str, Any]:
    found = hub.item(RUN_ID, table.instance_sk(ACCOUNT, REGION, instance_id))
    assert found is not None
    return found


def run_table(hub: Rehearsal) -> RunTable:
    """The rehearsal's run table, as the handlers see it."""
    return RunTable(boto3.client("dynamodb", region_name=HUB_REGION), hub.table_name)
