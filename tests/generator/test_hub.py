"""The hub skeleton: a Standard, logged, traced state machine whose role comes from its workflow graph."""

from __future__ import annotations

import json
from typing import Any

import pytest

from generator.asl.tasks import LAMBDA_TRANSIENT_ERRORS
from generator.hub import build_hub
from generator.iam import canonical
from rehearsal.template import generated_template
from tests.support.policies import as_list


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return generated_template("hub.json")


@pytest.fixture(scope="module")
def state_machine(hub: dict[str, Any]) -> dict[str, Any]:
    return hub["Resources"]["PatchRunStateMachine"]["Properties"]


def all_tasks(scope: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in scope["States"].items():
        if state["Type"] == "Task":
            found.append((name, state))
        if state["Type"] == "Map":
            found += all_tasks(state["ItemProcessor"])
        for branch in state.get("Branches", []):
            found += all_tasks(branch)
    return found


def test_state_machine_is_standard_with_an_asl_object(state_machine: dict[str, Any]) -> None:
    assert state_machine["StateMachineType"] == "STANDARD"
    assert isinstance(state_machine["Definition"], dict)
    assert "DefinitionString" not in state_machine
    assert state_machine["Definition"]["TimeoutSeconds"] > 0


def test_execution_data_is_never_logged(hub: dict[str, Any], state_machine: dict[str, Any]) -> None:
    logging = state_machine["LoggingConfiguration"]
    (destination,) = logging["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    log_group = hub["Resources"][log_group_id]["Properties"]

    assert logging["IncludeExecutionData"] is False
    assert logging["Level"] == {"Ref": "StateMachineLogLevel"}
    assert set(hub["Parameters"]["StateMachineLogLevel"]["AllowedValues"]) <= {"ALL", "ERROR", "FATAL"}
    assert log_group["LogGroupName"]["Fn::Sub"].startswith("/aws/vendedlogs/states/")
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert "KmsKeyId" in log_group


def test_tracing_is_on(state_machine: dict[str, Any]) -> None:
    assert state_machine["TracingConfiguration"] == {"Enabled": True}


def test_every_substitution_in_the_definition_is_declared(state_machine: dict[str, Any]) -> None:
    text = json.dumps(state_machine["Definition"])
    for key in state_machine["DefinitionSubstitutions"]:
        assert "${" + key + "}" in text
    used = {part.split("}")[0] for part in text.split("${")[1:] if not part.startswith("AWS::")}
    assert used == set(state_machine["DefinitionSubstitutions"])


def test_every_task_retries_transient_errors_with_jitter_and_catches(state_machine: dict[str, Any]) -> None:
    tasks = all_tasks(state_machine["Definition"])
    assert tasks
    for name, task in tasks:
        assert any(rule.get("JitterStrategy") == "FULL" and rule.get("MaxDelaySeconds") for rule in task["Retry"]), name
        assert task.get("Catch"), f"{name} has no Catch"
        if "lambda:invoke" in task["Resource"]["Fn::Sub"]:
            assert any(set(LAMBDA_TRANSIENT_ERRORS) <= set(rule["ErrorEquals"]) for rule in task["Retry"]), name


def test_role_is_derived_from_the_workflow_graph(hub: dict[str, Any]) -> None:
    built = build_hub()
    role = hub["Resources"]["PatchRunStateMachineRole"]["Properties"]
    (policy,) = role["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}

    for grant in built.workflow.grants():
        assert statements[grant.sid] == json.loads(canonical(grant.statement()))
    fixed = {"DeliverExecutionLogs", "WriteTraces"}
    assert set(statements) == {grant.sid for grant in built.workflow.grants()} | fixed
    for sid, statement in statements.items():
        if "*" in as_list(statement["Resource"]):
            assert sid in fixed, f"{sid} uses Resource '*'"


def test_role_trusts_only_step_functions_in_this_account(hub: dict[str, Any]) -> None:
    role = hub["Resources"]["PatchRunStateMachineRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]

    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Fn::Sub": "${AWS::AccountId}"}}
    assert "stateMachine:${NamePrefix}-patch-run" in trust["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]


def test_run_table_is_durable_encrypted_and_expiring(hub: dict[str, Any]) -> None:
    table = hub["Resources"]["PatchRunsTable"]["Properties"]

    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionProtectionEnabled"] is True
    assert table["SSESpecification"] == {
        "KMSMasterKeyId": {"Fn::GetAtt": ["HubKey", "Arn"]},
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]


def test_hub_key_rotates_and_scopes_every_non_account_principal(hub: dict[str, Any]) -> None:
    key = hub["Resources"]["HubKey"]["Properties"]
    condition, with_organisation, without = key["KeyPolicy"]["Fn::If"]
    statements = {s["Sid"]: s for s in with_organisation["Statement"]}

    assert key["EnableKeyRotation"] is True
    assert condition == "SharesInstanceOutput"
    assert [s["Sid"] for s in without["Statement"]] == [
        sid for sid in statements if sid != "OrganisationInstancesEncryptOutputThroughS3"
    ]
    logs = statements["CloudWatchLogsForThisAccountsLogGroups"]
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]
    organisation = statements["OrganisationInstancesEncryptOutputThroughS3"]
    assert organisation["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == {"Ref": "OrganizationId"}
    assert "kms:ViaService" in organisation["Condition"]["StringEquals"]
    for statement in statements.values():
        if statement["Principal"] in ("*", {"AWS": "*"}):
            assert statement.get("Condition"), statement["Sid"]


def test_the_distributed_map_role_has_what_aws_documents_for_distributed_maps(hub: dict[str, Any]) -> None:
    # AWS, "IAM policies for using Distributed Map states": start child executions of its own state machine,
    # describe and stop its executions and theirs, and redrive the children. moto checks none of this.
    statements = {
        statement["Sid"]: statement
        for policy in hub["Resources"]["PatchRunStateMachineRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    }

    def resources(sid: str) -> set[str]:
        prefix = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:"
        return {resource["Fn::Sub"][0].removeprefix(prefix) for resource in statements[sid]["Resource"]}

    assert statements["StartChildExecutions"]["Action"] == ["states:StartExecution"]
    assert resources("StartChildExecutions") == {"stateMachine:${Name}"}
    assert statements["WatchChildExecutions"]["Action"] == ["states:DescribeExecution", "states:StopExecution"]
    assert resources("WatchChildExecutions") == {"execution:${Name}:*", "execution:${Name}/*"}
    assert statements["RedriveChildExecutions"]["Action"] == ["states:RedriveExecution"]
    assert resources("RedriveChildExecutions") == {"execution:${Name}/*:*"}


def test_tolerated_failure_is_an_integer_as_aws_s_schema_requires(state_machine: dict[str, Any]) -> None:
    text = json.dumps(state_machine["Definition"])
    assert '"ToleratedFailurePercentage": 100,' in text or '"ToleratedFailurePercentage": 100}' in text
    assert "100.0" not in text


def test_every_parameter_is_grouped_and_labelled_for_the_console(hub: dict[str, Any]) -> None:
    interface = hub["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [name for group in interface["ParameterGroups"] for name in group["Parameters"]]
    assert sorted(grouped) == sorted(hub["Parameters"])
    assert sorted(interface["ParameterLabels"]) == sorted(hub["Parameters"])
