"""A run that stops early: the rule that calls CancelRun, and where failed deliveries go."""

from __future__ import annotations

from typing import Any

import pytest

from rehearsal.template import generated_template


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return generated_template("hub.json")


def test_the_rule_hears_only_the_runs_own_executions_ending_early(hub: dict[str, Any]) -> None:
    rule = hub["Resources"]["RunStoppedRule"]["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["ABORTED", "FAILED", "TIMED_OUT"], "stateMachineArn": [{"Ref": "PatchRunStateMachine"}]},
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["CancelRunFunction", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["RunStopDeadLetterQueue", "Arn"]}}


def test_failed_deliveries_are_dead_lettered_by_eventbridge_and_by_lambda(hub: dict[str, Any]) -> None:
    function = hub["Resources"]["CancelRunFunction"]["Properties"]
    assert function["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": ["RunStopDeadLetterQueue", "Arn"]}}
    statements = hub["Resources"]["CancelRunFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (send,) = [s for s in statements if s["Sid"] == "DeadLetterFailedEvents"]
    assert send["Action"] == ["sqs:SendMessage"]
    queue_policy = hub["Resources"]["RunStopDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in queue_policy if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["RunStoppedRule", "Arn"]}}}


def test_only_the_rule_may_invoke_cancel_run(hub: dict[str, Any]) -> None:
    (permission,) = [
        r["Properties"]
        for r in hub["Resources"].values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["FunctionName"]["Fn::GetAtt"][0] == "CancelRunFunction"
    ]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["RunStoppedRule", "Arn"]}
    role = hub["Resources"]["CancelRunFunctionRole"]["Properties"]
    assert role["RoleName"] == {"Fn::Sub": "${NamePrefix}-fleet-cancel-${AWS::Region}"}  # spoke roles trust it


def test_cancel_run_may_ask_only_about_its_own_state_machines_executions(hub: dict[str, Any]) -> None:
    variables = hub["Resources"]["CancelRunFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["PATCH_RUN_STATE_MACHINE_ARN"] == {"Ref": "PatchRunStateMachine"}
    statements = hub["Resources"]["CancelRunFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (describe,) = [s for s in statements if "states:DescribeExecution" in s["Action"]]
    assert describe["Action"] == ["states:DescribeExecution"]
    (resource,) = describe["Resource"]
    assert resource["Fn::Sub"][0] == "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${Name}:*"
    machine_name = hub["Resources"]["PatchRunStateMachine"]["Properties"]["StateMachineName"]
    assert resource["Fn::Sub"][1] == {"Name": machine_name}
    assert not any(s["Action"] != ["states:DescribeExecution"] and "states:" in str(s["Action"]) for s in statements)
