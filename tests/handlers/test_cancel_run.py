"""CancelRun: a run whose execution stopped early leaves no command running and no record open."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from handlers.contract import table
from handlers.contract.errors import InvalidEvent, NotThisRun, SpokeAccessDenied
from handlers.records.codec import to_item
from rehearsal.fleet import NEVER, Behaviour
from rehearsal.hub import HUB_ACCOUNT, HUB_REGION, Rehearsal
from tests.handlers.targets import SELECTOR

RUN_ID = "stopped-run"
STILL_PATCHING, FINISHED = "222222222222", "333333333333"
REGION = "eu-west-1"


def status_change(status: str, run_id: str = RUN_ID) -> dict[str, Any]:
    """The EventBridge event Step Functions emits when an execution's status changes."""
    machine = f"arn:aws:states:{HUB_REGION}:{HUB_ACCOUNT}:stateMachine:patch-orchestrator-patch-run"
    return {
        "version": "0",
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "account": HUB_ACCOUNT,
        "region": HUB_REGION,
        "detail": {
            "executionArn": f"{machine.replace(':stateMachine:', ':execution:')}:{run_id}",
            "stateMachineArn": machine,
            "name": run_id,
            "status": status,
        },
    }


def started_run(hub: Rehearsal) -> dict[str, str]:
    """A recorded run (its execution RUNNING) with a patch command running in two accounts; one of the targets has
    since been recorded."""
    document = {
        "operation": "Install",
        "rebootOption": "NoReboot",
        "selector": SELECTOR,
        "waves": [{"name": "all", "targets": [{"accounts": [STILL_PATCHING, FINISHED], "regions": [REGION]}]}],
    }
    execution_arn = hub.declare_execution(RUN_ID, "RUNNING")
    hub.invoke("ValidateRun", {"runId": RUN_ID, "executionId": execution_arn, "document": document})
    commands = {}
    for account in (STILL_PATCHING, FINISHED):
        hub.fleet.add(account, REGION, 2, patch=Behaviour(status=NEVER))
        sent = hub.invoke(
            "SendCommand",
            {
                "runId": RUN_ID,
                "executionId": execution_arn,
                "waveIndex": 0,
                "accountId": account,
                "region": REGION,
                "phase": "patch",
            },
        )
        commands[account] = sent["commandId"]
    finished = {
        "pk": table.run_pk(RUN_ID),
        "sk": table.target_sk(0, FINISHED, REGION),
        "waveIndex": 0,
        "accountId": FINISHED,
        "region": REGION,
        "status": "ERRORED",
        "outcome": 500,
        "counts": {"succeeded": 0, "failed": 2, "unreachable": 0, "notPatched": 0, "total": 2},
        "error": "recorded by RecordTarget, which settled its command",
    }
    boto3.client("dynamodb", region_name=HUB_REGION).put_item(TableName=hub.table_name, Item=to_item(finished))
    return commands


def cancelled(hub: Rehearsal, command_id: str) -> bool:
    (command,) = [c for c in hub.fleet.sent() if c.command_id == command_id]
    return all(invocation.cancelled_at is not None for invocation in command.invocations.values())


def test_a_stopped_run_leaves_no_command_running_and_its_record_closed(hub: Rehearsal) -> None:
    commands = started_run(hub)
    hub.declare_execution(RUN_ID, "ABORTED")

    result = hub.invoke("CancelRun", status_change("ABORTED"))

    assert result == {"runId": RUN_ID, "cancelled": 1, "closed": True}
    assert cancelled(hub, commands[STILL_PATCHING])
    assert not cancelled(hub, commands[FINISHED])  # its target was recorded: RecordTarget settled it
    ledger = hub.item(RUN_ID, table.command_sk(0, STILL_PATCHING, REGION, "patch"))
    assert ledger is not None
    assert "cancelledAt" in ledger
    meta = hub.item(RUN_ID, table.META)
    assert meta is not None
    assert (meta["status"], meta["outcome"]) == ("ABORTED", 500)
    assert meta["reason"] == "the execution ended ABORTED; 1 running command(s) cancelled"
    subject, message = hub.notifications()[-1]
    assert subject == f"Patch run {RUN_ID}: ABORTED (500)"
    assert "1 command(s) still running were cancelled" in message


def test_a_repeated_delivery_cancels_nothing_twice_and_closes_nothing_twice(hub: Rehearsal) -> None:
    started_run(hub)
    hub.declare_execution(RUN_ID, "TIMED_OUT")
    hub.invoke("CancelRun", status_change("TIMED_OUT"))
    calls = hub.fleet.count("CancelCommand")
    notified = len(hub.notifications())

    again = hub.invoke("CancelRun", status_change("TIMED_OUT"))

    assert again == {"runId": RUN_ID, "cancelled": 0, "closed": False}
    assert hub.fleet.count("CancelCommand") == calls
    assert len(hub.notifications()) == notified


def test_a_run_finalize_closed_keeps_its_record(hub: Rehearsal) -> None:
    started_run(hub)
    hub.invoke("Finalize", {"runId": RUN_ID, "halt": {"Error": "FailureBudgetExceeded", "Cause": "too many"}})
    hub.declare_execution(RUN_ID, "FAILED")

    result = hub.invoke("CancelRun", status_change("FAILED"))

    assert result["closed"] is False
    assert result["cancelled"] == 1  # the command Finalize knew nothing about is still cancelled
    meta = hub.item(RUN_ID, table.META)
    assert meta is not None
    assert meta["status"] == "HALTED"


def test_a_spoke_that_refuses_fails_the_delivery_so_it_is_retried(hub: Rehearsal) -> None:
    commands = started_run(hub)
    hub.declare_execution(RUN_ID, "ABORTED")
    hub.denied_accounts.add(STILL_PATCHING)

    with pytest.raises(SpokeAccessDenied, match=STILL_PATCHING):
        hub.invoke("CancelRun", status_change("ABORTED"))

    assert not cancelled(hub, commands[STILL_PATCHING])
    hub.denied_accounts.clear()
    assert hub.invoke("CancelRun", status_change("ABORTED"))["cancelled"] == 1
    assert cancelled(hub, commands[STILL_PATCHING])


def test_a_run_that_ended_normally_is_not_touched(hub: Rehearsal) -> None:
    commands = started_run(hub)

    assert hub.invoke("CancelRun", status_change("SUCCEEDED")) == {"runId": RUN_ID, "cancelled": 0, "closed": False}
    assert not cancelled(hub, commands[STILL_PATCHING])


def test_a_forged_stop_event_for_a_live_run_cancels_nothing_and_says_why(hub: Rehearsal) -> None:
    commands = started_run(hub)  # its execution is still RUNNING

    with pytest.raises(NotThisRun, match=f"^the event says '{RUN_ID}' ended ABORTED, but its execution is RUNNING$"):
        hub.invoke("CancelRun", status_change("ABORTED"))

    assert hub.fleet.count("cancel_command") == 0
    assert not any(cancelled(hub, command_id) for command_id in commands.values())
    meta = hub.item(RUN_ID, table.META)
    assert meta is not None
    assert meta["status"] == "RUNNING"
    assert hub.notifications() == []
    # Once it has really stopped, the same event (redelivered) does its job.
    hub.declare_execution(RUN_ID, "ABORTED")
    assert hub.invoke("CancelRun", status_change("ABORTED"))["cancelled"] == 1


def test_a_stop_event_for_an_execution_this_hub_does_not_have_cancels_nothing(hub: Rehearsal) -> None:
    started_run(hub)

    expected = r"^the event says 'elsewhere' ended FAILED, but this hub has no such execution$"
    with pytest.raises(NotThisRun, match=expected):
        hub.invoke("CancelRun", status_change("FAILED", run_id="elsewhere"))

    assert hub.fleet.count("cancel_command") == 0


def test_the_recorded_status_is_the_executions_not_the_events(hub: Rehearsal) -> None:
    started_run(hub)
    hub.declare_execution(RUN_ID, "TIMED_OUT")

    hub.invoke("CancelRun", status_change("ABORTED"))

    meta = hub.item(RUN_ID, table.META)
    assert meta is not None
    assert meta["status"] == "TIMED_OUT"


def test_cancel_run_refuses_an_event_that_is_not_an_execution_status_change(hub: Rehearsal) -> None:
    with pytest.raises(InvalidEvent, match=r"^event\.detail\.status: required$"):
        hub.invoke("CancelRun", {"detail": {"name": RUN_ID}})
    with pytest.raises(InvalidEvent, match=r"^event\.detail: expected dict, got str$"):
        hub.invoke("CancelRun", {"detail": "ABORTED"})
