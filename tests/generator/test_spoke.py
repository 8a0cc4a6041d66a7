"""The spoke role: only the hub's fleet roles with the ExternalId; commands only to tagged instances."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from handlers.contract import conventions
from rehearsal.template import PSEUDO_PARAMETERS, generated_template, resolve
from tests.support.policies import as_list, identity_statements

# Actions IAM cannot scope to a resource, so "Resource": "*" is the only form AWS accepts for them.
NO_RESOURCE_LEVEL_PERMISSIONS = {
    "ec2:DescribeInstances",
    "ssm:CancelCommand",
    "ssm:DescribeInstanceInformation",
    "ssm:GetCommandInvocation",
    "ssm:ListCommandInvocations",
    "ssm:ListCommands",
}
HUB_ACCOUNT = "999999999999"


@pytest.fixture(scope="module")
def spoke() -> dict[str, Any]:
    return generated_template("spoke.json")


@pytest.fixture(scope="module")
def role(spoke: dict[str, Any]) -> dict[str, Any]:
    return dict(spoke["Resources"]["SpokeRole"]["Properties"])


def parameter_values(spoke: dict[str, Any]) -> dict[str, Any]:
    values = {name: spec.get("Default") for name, spec in spoke["Parameters"].items()}
    return values | {"HubAccountId": HUB_ACCOUNT, "ExternalId": "an-external-id-1234"}


def statements_with(spoke: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for _, s in identity_statements(spoke) if action in as_list(s["Action"])]


def test_no_statement_allows_a_wildcard_action(spoke: dict[str, Any]) -> None:
    for logical_id, statement in identity_statements(spoke):
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{logical_id} {statement['Sid']} allows {action}"


def test_resource_star_only_for_actions_without_resource_level_permissions(spoke: dict[str, Any]) -> None:
    for logical_id, statement in identity_statements(spoke):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= NO_RESOURCE_LEVEL_PERMISSIONS, (logical_id, statement["Sid"])


def test_every_statement_allows_and_has_a_sid(spoke: dict[str, Any]) -> None:
    for _, statement in identity_statements(spoke):
        assert statement["Effect"] == "Allow"
        assert statement["Sid"].isalnum()


def test_trust_requires_the_external_id_and_a_hub_fleet_role(spoke: dict[str, Any], role: dict[str, Any]) -> None:
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    values = parameter_values(spoke)

    assert sorted(as_list(trust["Action"])) == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    assert trust["Condition"]["StringEquals"] == {"sts:ExternalId": {"Ref": "ExternalId"}}
    assert resolve(trust["Principal"]["AWS"], values) == f"arn:aws:iam::{HUB_ACCOUNT}:root"
    pattern = resolve(trust["Condition"]["ArnLike"]["aws:PrincipalArn"], values)
    fleet_role = conventions.HUB_FLEET_ROLE_NAME.format(
        prefix=conventions.DEFAULT_NAME_PREFIX, purpose="discover", region="eu-west-1"
    )
    assert fnmatch.fnmatchcase(f"arn:aws:iam::{HUB_ACCOUNT}:role/{fleet_role}", pattern)
    for outsider in ("Admin", "patch-orchestrator-hub-approvals", f"{conventions.DEFAULT_NAME_PREFIX}-spoke-x"):
        assert not fnmatch.fnmatchcase(f"arn:aws:iam::{HUB_ACCOUNT}:role/{outsider}", pattern)


def test_external_id_is_a_no_echo_parameter_without_default(spoke: dict[str, Any]) -> None:
    external_id = spoke["Parameters"]["ExternalId"]
    assert external_id["NoEcho"] is True
    assert "Default" not in external_id
    assert external_id["MinLength"] >= 16


def test_role_name_matches_the_convention_the_hub_uses(spoke: dict[str, Any], role: dict[str, Any]) -> None:
    name = resolve(role["RoleName"], parameter_values(spoke))
    expected = conventions.spoke_role_arn(partition="aws", account_id="1", region=PSEUDO_PARAMETERS["AWS::Region"])
    assert expected.endswith(f":role/{name}")


def test_send_command_is_split_into_documents_and_tagged_instances(spoke: dict[str, Any]) -> None:
    values = parameter_values(spoke)
    by_sid = {statement["Sid"]: statement for statement in statements_with(spoke, "ssm:SendCommand")}
    assert len(by_sid) == 2
    documents = by_sid["SendPatchAndSnapshotDocuments"]
    instances = by_sid["SendCommandsToTaggedInstances"]

    assert sorted(resolve(documents["Resource"], values)) == [
        "arn:aws:ssm:eu-west-1:123456789012:document/patch-orchestrator-PrePatchSnapshot",
        "arn:aws:ssm:eu-west-1::document/AWS-RunPatchBaseline",
    ]
    assert "Condition" not in documents
    assert resolve(instances["Resource"], values) == ["arn:aws:ec2:eu-west-1:123456789012:instance/*"]
    tag_key = f"ssm:resourceTag/{conventions.PATCH_TAG_KEY}"
    assert instances["Condition"] == {"StringLike": {tag_key: {"Ref": "AllowedPatchGroups"}}}


def test_spoke_role_has_no_s3_rights(role: dict[str, Any]) -> None:
    actions = [a for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] for a in as_list(s["Action"])]
    assert not [action for action in actions if action.startswith("s3:")]


def test_snapshot_document_runs_fixed_scripts_per_platform(spoke: dict[str, Any]) -> None:
    document = spoke["Resources"]["SnapshotDocument"]["Properties"]
    steps = {step["precondition"]["StringEquals"][1]: step for step in document["Content"]["mainSteps"]}

    assert resolve(document["Name"], parameter_values(spoke)) == conventions.snapshot_document_name()
    assert steps["Linux"]["action"] == "aws:runShellScript"
    assert steps["Windows"]["action"] == "aws:runPowerShellScript"
    assert "parameters" not in document["Content"]  # nothing a caller could inject
    assert any("rpm -qa" in line for line in steps["Linux"]["inputs"]["runCommand"])
    assert any("Get-HotFix" in line for line in steps["Windows"]["inputs"]["runCommand"])


def test_instance_output_policy_writes_only_this_accounts_prefix(spoke: dict[str, Any]) -> None:
    policy = spoke["Resources"]["InstanceOutputPolicy"]
    values = parameter_values(spoke) | {
        "HubArtifactBucketName": "hub-artifacts",
        "HubKeyArn": "arn:aws:kms:us-east-1:999999999999:key/abcd",
    }
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}

    assert policy["Condition"] == "ShareInstanceOutput"
    write = statements["WriteThisAccountsRunCommandOutput"]
    assert write["Action"] == ["s3:PutObject"]
    assert resolve(write["Resource"], values) == ["arn:aws:s3:::hub-artifacts/runs/*/ssm/account-123456789012/*"]
    key_use = statements["EncryptWithHubKeyThroughS3"]
    assert key_use["Resource"] == [{"Ref": "HubKeyArn"}]
    assert "kms:ViaService" in key_use["Condition"]["StringEquals"]
    all_actions = {a for s in statements.values() for a in as_list(s["Action"])}
    assert not {a for a in all_actions if "Acl" in a or "Policy" in a}


def test_parameters_are_grouped_for_the_console(spoke: dict[str, Any]) -> None:
    interface = spoke["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [name for group in interface["ParameterGroups"] for name in group["Parameters"]]
    assert sorted(grouped) == sorted(spoke["Parameters"])
    assert sorted(interface["ParameterLabels"]) == sorted(spoke["Parameters"])


def test_outputs_expose_role_document_and_policy(spoke: dict[str, Any]) -> None:
    assert set(spoke["Outputs"]) == {
        "SpokeRoleArn", "SnapshotDocumentName", "InstanceOutputPolicyArn", "SpokeOperatorRoleArn",
    }  # fmt: skip
    assert spoke["Outputs"]["InstanceOutputPolicyArn"]["Condition"] == "ShareInstanceOutput"
