"""Task helpers bring their IAM and retries; the state machine role is the union of what its tasks need."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from awacs.aws import Action, Allow, Condition, Statement, StringEquals
from troposphere import GetAtt, Ref

from generator.asl.chain import chain
from generator.asl.graph import GraphError, StateMachineDefinition
from generator.asl.states import Map, Succeed
from generator.asl.tasks import (
    LAMBDA_CRASH_ERRORS,
    LAMBDA_TRANSIENT_ERRORS,
    FunctionTarget,
    TableTarget,
    dynamodb_update_item,
    lambda_invoke,
    lambda_invoke_wait_for_token,
)
from generator.iam import canonical, policy_document
from handlers.contract import table
from handlers.contract.table import Update, WaveApprovalStatus

VALIDATE = FunctionTarget("ValidateRun", GetAtt("ValidateRunFunction", "Arn"))
APPROVAL = FunctionTarget("RequestApproval", GetAtt("RequestApprovalFunction", "Arn"))
RECORD = FunctionTarget("RecordTarget", GetAtt("RecordTargetFunction", "Arn"))
RUN_TABLE = TableTarget(
    "RunTable", Ref("RunTable"), GetAtt("RunTable", "Arn"), GetAtt("RunTableKey", "Arn"), partitions=("RUN#*",)
)
WAVE_KEY = {"pk": {"S.$": "States.Format('RUN#{}', $.runId)"}, "sk": {"S.$": "$.wave.recordKey"}}
APPROVED = {
    ":status": {"S": WaveApprovalStatus.APPROVED},
    ":by": {"S.$": "$.approval.decidedBy"},
    ":at": {"S.$": "$.approval.decidedAt"},
    ":ip": {"S.$": "$.approval.sourceIp"},
    ":agent": {"S.$": "$.approval.userAgent"},
    ":approvers": {"SS.$": "$.approval.approvedBy"},
}


def rendered(value: object) -> Any:
    """The JSON CloudFormation would receive."""
    return json.loads(canonical(value))


def test_lambda_invoke_retries_transient_lambda_errors_with_full_jitter() -> None:
    task = lambda_invoke("ValidateRun", VALIDATE)
    transient, crash = rendered(task.to_asl())["Retry"]

    assert transient["ErrorEquals"] == list(LAMBDA_TRANSIENT_ERRORS)
    assert transient["JitterStrategy"] == "FULL"
    assert transient["MaxDelaySeconds"] > 0
    assert transient["BackoffRate"] > 1
    # A crashed invocation is retried too, but only briefly: the handlers are idempotent, bugs must surface.
    assert crash["ErrorEquals"] == list(LAMBDA_CRASH_ERRORS)
    assert crash["MaxAttempts"] == 2


def test_lambda_invoke_refers_to_the_function_through_a_substitution() -> None:
    asl = rendered(lambda_invoke("ValidateRun", VALIDATE).to_asl())

    assert asl["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:states:::lambda:invoke"}
    assert asl["Parameters"]["FunctionName"] == "${ValidateRunFunctionArn}"


def test_lambda_invoke_grants_invoke_on_the_function_and_its_versions_only() -> None:
    (grant,) = lambda_invoke("ValidateRun", VALIDATE).grants
    statement = rendered(grant.statement())

    assert statement["Action"] == ["lambda:InvokeFunction"]
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["ValidateRunFunction", "Arn"]},
        {"Fn::Sub": ["${Arn}:*", {"Arn": {"Fn::GetAtt": ["ValidateRunFunction", "Arn"]}}]},
    ]


def test_wait_for_token_task_passes_the_token_and_has_a_timeout() -> None:
    task = lambda_invoke_wait_for_token("RequestApproval", APPROVAL, timeout_seconds=3600, payload={"wave.$": "$.wave"})
    asl = rendered(task.to_asl())

    assert asl["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:states:::lambda:invoke.waitForTaskToken"}
    assert asl["Parameters"]["Payload"] == {"wave.$": "$.wave", "taskToken.$": "$$.Task.Token"}
    assert asl["TimeoutSeconds"] == 3600


def test_role_grants_are_collected_from_nested_scopes_and_deduplicated() -> None:
    inner = chain(lambda_invoke("ValidateAgain", VALIDATE)).close().graph()
    body = chain(
        lambda_invoke("ValidateRun", VALIDATE),
        Map("Waves", inner, items_path="$.waves"),
        lambda_invoke("RecordRun", RECORD),
        Succeed("Done"),
    )
    definition = StateMachineDefinition(body.graph(), comment="t", timeout_seconds=60)

    assert [grant.sid for grant in definition.grants()] == ["InvokeRecordTargetFunction", "InvokeValidateRunFunction"]
    assert definition.substitutions() == {
        "RecordTargetFunctionArn": GetAtt("RecordTargetFunction", "Arn"),
        "ValidateRunFunctionArn": GetAtt("ValidateRunFunction", "Arn"),
    }


def test_one_substitution_key_bound_to_two_values_is_refused() -> None:
    other = FunctionTarget("ValidateRun", GetAtt("SomeOtherFunction", "Arn"))
    body = chain(lambda_invoke("First", VALIDATE), lambda_invoke("Second", other), Succeed("Done"))

    with pytest.raises(GraphError, match="ValidateRunFunctionArn"):
        StateMachineDefinition(body.graph(), comment="t", timeout_seconds=60)


def test_a_dynamodb_update_sends_the_named_update_of_the_contract() -> None:
    task = dynamodb_update_item("RecordApproval", RUN_TABLE, key=WAVE_KEY, update=table.WAVE_APPROVED, values=APPROVED)
    parameters = rendered(task.to_asl())["Parameters"]

    assert parameters["TableName"] == "${RunTableName}"
    assert parameters["UpdateExpression"] == table.WAVE_APPROVED.expression
    assert parameters["ConditionExpression"] == table.WAVE_APPROVED.condition
    assert parameters["ExpressionAttributeNames"] == dict(table.WAVE_APPROVED.names)
    assert parameters["ExpressionAttributeValues"][":status"] == {"S": "APPROVED"}
    assert task.substitutions == {"RunTableName": Ref("RunTable")}


def test_an_unconditional_update_without_names_sends_neither() -> None:
    task = dynamodb_update_item("Touch", RUN_TABLE, key=WAVE_KEY, update=Update("SET seen = :now"), values={":now": 1})
    parameters = task.to_asl()["Parameters"]

    assert "ConditionExpression" not in parameters
    assert "ExpressionAttributeNames" not in parameters


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({key: value for key, value in APPROVED.items() if key != ":agent"}, "unbound [':agent']"),
        ({**APPROVED, ":halted": {"S": "HALTED"}}, "unused [':halted']"),
    ],
    ids=["a placeholder left unbound", "a value the update does not use"],
)
def test_binding_the_wrong_placeholders_fails_the_build(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        dynamodb_update_item("RecordApproval", RUN_TABLE, key=WAVE_KEY, update=table.WAVE_APPROVED, values=values)


def test_a_dynamodb_update_may_touch_only_the_tables_partitions() -> None:
    task = dynamodb_update_item("RecordApproval", RUN_TABLE, key=WAVE_KEY, update=table.WAVE_APPROVED, values=APPROVED)
    update, key = (rendered(grant.statement()) for grant in task.grants)

    assert update["Action"] == ["dynamodb:UpdateItem"]
    assert update["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["RUN#*"]}}
    assert key["Resource"] == [{"Fn::GetAtt": ["RunTableKey", "Arn"]}]


def test_a_condition_operator_given_twice_is_refused() -> None:
    # Two StringEquals blocks render as one JSON key: the first condition would silently disappear.
    statement = Statement(
        Sid="Twice",
        Effect=Allow,
        Action=[Action("kms", "Decrypt")],
        Resource=["*"],
        Condition=Condition([StringEquals("aws:PrincipalOrgID", "o-1"), StringEquals("kms:ViaService", "s3")]),
    )
    with pytest.raises(ValueError, match="StringEquals"):
        policy_document([statement])
