"""Hand-made invokes during a live run, through the generated state machine: they do nothing, and the run goes on.

The attacker of this test reads what the hub account's ReadOnlyAccess shows (the execution's ARN, the run record)
and may invoke the functions directly. While a gated wave waits for its approver, they ask SendCommand to patch it
with their own settings and CancelRun to cancel the run; neither acts, and the run, once approved, patches as its
document says.
"""

from __future__ import annotations

import boto3
import pytest

from handlers.contract import conventions
from handlers.contract.errors import NotThisRun
from rehearsal import approvals
from rehearsal.hub import HUB_REGION, Rehearsal
from tests.handlers.test_cancel_run import status_change
from tests.workflow.test_approvals import APPROVER, CANARY, FLEET, deploy_fleet, gated_run, patched_accounts

RUN_ID = "live-run"


def test_hand_made_invokes_during_a_live_run_do_nothing_and_the_run_still_succeeds(hub: Rehearsal) -> None:
    deploy_fleet(hub)
    execution = hub.start(gated_run() | {"rebootOption": "NoReboot"}, RUN_ID)
    request = next(r for r in hub.wait_for_approval_requests(2) if r["approver"] == APPROVER)
    assert patched_accounts(hub) == {CANARY}
    forged_patch = {
        "runId": RUN_ID,
        "executionId": execution,  # the real one: it is in the run record and the execution list
        "waveIndex": 1,
        "accountId": FLEET,
        "region": "eu-west-1",
        "phase": "patch",
        "settings": {"operation": "Install", "rebootOption": "RebootIfNeeded"},
        "wave": {"maxConcurrency": "100%", "maxErrors": "100%"},
    }

    with pytest.raises(NotThisRun, match=r"^wave 'fleet' of 'live-run' needs approval and is PENDING$"):
        hub.invoke("SendCommand", forged_patch)
    with pytest.raises(NotThisRun, match=f"^the event says '{RUN_ID}' ended ABORTED, but its execution is RUNNING$"):
        hub.invoke("CancelRun", status_change("ABORTED", run_id=RUN_ID))

    assert patched_accounts(hub) == {CANARY}
    assert hub.fleet.count("cancel_command") == 0
    meta = hub.item(RUN_ID, "META")
    assert meta is not None
    assert meta["status"] == "RUNNING"
    link = approvals.links(request["message"])["approve"]
    assert approvals.confirm(hub, link)["statusCode"] == 200
    result = hub.wait(execution)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    patches = hub.fleet.sent(document=conventions.patch_document_name())
    assert {command.account_id for command in patches} == {CANARY, FLEET}
    # The run's own settings, not the forged ones: NoReboot, and the wave's default rollout.
    assert {command.request["Parameters"]["RebootOption"][0] for command in patches} == {"NoReboot"}
    assert all(command.request["MaxConcurrency"] != "100%" for command in patches)
    assert not any(command.document == conventions.AWS_PATCH_DOCUMENT_NAME for command in hub.fleet.sent())


def test_a_refusal_inside_the_workflow_is_not_retried_touches_nothing_and_halts_the_run(hub: Rehearsal) -> None:
    deploy_fleet(hub)
    execution = hub.start(gated_run(), "closed-run")
    request = next(r for r in hub.wait_for_approval_requests(2) if r["approver"] == APPROVER)
    # The record says the run is over while its execution still waits (a record changed behind the hub's back).
    boto3.client("dynamodb", region_name=HUB_REGION).update_item(
        TableName=hub.table_name,
        Key={"pk": {"S": "RUN#closed-run"}, "sk": {"S": "META"}},
        UpdateExpression="SET #status = :aborted",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":aborted": {"S": "ABORTED"}},
    )
    discovered = hub.invocations["Discover"]
    assert approvals.confirm(hub, approvals.links(request["message"])["approve"])["statusCode"] == 200

    result = hub.wait(execution)

    assert result["status"] == "FAILED"
    assert result["error"] == "RunHalted"
    assert "2 of 2 targets have no record" in result["cause"]
    assert patched_accounts(hub) == {CANARY}  # nothing of the fleet wave was touched
    # Each refused once (no retry), and nothing recorded for the refused targets, not even a failure.
    assert hub.invocations["Discover"] - discovered == 2
    assert [error for _, error in hub.errors if error.startswith("NotThisRun")] == [
        "NotThisRun: run 'closed-run' is ABORTED, not RUNNING"
    ] * 2
    assert hub.items("closed-run", f"TARGET#01#{FLEET}") == []
