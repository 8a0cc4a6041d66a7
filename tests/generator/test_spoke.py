"""The spoke role: only the hub's fleet roles with the ExternalId; only the spoke's own documents, only to tagged
instances of the patch groups the spoke names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from generator.parameter_files import constraint_problems
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
HUB_REGION = "us-east-1"


@pytest.fixture(scope="module")
def spoke() -> dict[str, Any]:
    return generated_template("spoke.json")


@pytest.fixture(scope="module")
def role(spoke: dict[str, Any]) -> dict[str, Any]:
    return dict(spoke["Resources"]["SpokeRole"]["Properties"])


def parameter_values(spoke: dict[str, Any]) -> dict[str, Any]:
    values = {name: spec.get("Default") for name, spec in spoke["Parameters"].items()}
    return values | {
        "HubAccountId": HUB_ACCOUNT,
        "HubRegion": HUB_REGION,
        "ExternalId": "an-external-id-1234",
        "AllowedPatchGroups": ["web"],
    }


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


def test_trust_requires_the_external_id_and_names_each_hub_fleet_role_exactly(
    spoke: dict[str, Any], role: dict[str, Any]
) -> None:
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    values = parameter_values(spoke)

    assert sorted(as_list(trust["Action"])) == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    assert trust["Condition"]["StringEquals"] == {"sts:ExternalId": {"Ref": "ExternalId"}}
    assert resolve(trust["Principal"]["AWS"], values) == f"arn:aws:iam::{HUB_ACCOUNT}:root"
    assert set(trust["Condition"]) == {"StringEquals", "ArnEquals"}  # no pattern (ArnLike) anywhere
    trusted = resolve(trust["Condition"]["ArnEquals"]["aws:PrincipalArn"], values)
    assert sorted(trusted) == sorted(
        f"arn:aws:iam::{HUB_ACCOUNT}:role/"
        + conventions.HUB_FLEET_ROLE_NAME.format(
            prefix=conventions.DEFAULT_NAME_PREFIX, purpose=purpose, region=HUB_REGION
        )
        for purpose in conventions.FLEET_PURPOSES
    )
    assert not [arn for arn in trusted if "*" in arn or "?" in arn]


def test_the_spoke_trusts_exactly_the_hub_roles_that_assume_spoke_roles(
    spoke: dict[str, Any], role: dict[str, Any]
) -> None:
    hub = generated_template("hub.json")
    assuming = {
        logical_id
        for logical_id, statement in identity_statements(hub)
        if "sts:AssumeRole" in as_list(statement["Action"])
    }
    hub_values = {
        "NamePrefix": conventions.DEFAULT_NAME_PREFIX,
        "AWS::AccountId": HUB_ACCOUNT,
        "AWS::Region": HUB_REGION,
    }
    hub_roles = {
        f"arn:aws:iam::{HUB_ACCOUNT}:role/"
        + resolve(hub["Resources"][logical_id]["Properties"]["RoleName"], hub_values)
        for logical_id in assuming
    }
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]

    assert len(assuming) == len(conventions.FLEET_PURPOSES)
    assert set(resolve(trust["Condition"]["ArnEquals"]["aws:PrincipalArn"], parameter_values(spoke))) == hub_roles


def test_external_id_is_a_no_echo_parameter_without_default(spoke: dict[str, Any]) -> None:
    external_id = spoke["Parameters"]["ExternalId"]
    assert external_id["NoEcho"] is True
    assert "Default" not in external_id
    assert external_id["MinLength"] >= 16


def test_role_name_matches_the_convention_the_hub_uses(spoke: dict[str, Any], role: dict[str, Any]) -> None:
    name = resolve(role["RoleName"], parameter_values(spoke))
    expected = conventions.spoke_role_arn(partition="aws", account_id="1", region=PSEUDO_PARAMETERS["AWS::Region"])
    assert expected.endswith(f":role/{name}")


def test_send_command_reaches_only_the_spokes_own_documents_and_tagged_instances(spoke: dict[str, Any]) -> None:
    values = parameter_values(spoke)
    by_sid = {statement["Sid"]: statement for statement in statements_with(spoke, "ssm:SendCommand")}
    assert len(by_sid) == 2
    documents = by_sid["SendThisSpokesPatchAndSnapshotDocuments"]
    instances = by_sid["SendCommandsToTaggedInstances"]

    assert sorted(resolve(documents["Resource"], values)) == sorted(
        f"arn:aws:ssm:eu-west-1:123456789012:document/{name}"
        for name in (conventions.patch_document_name(), conventions.snapshot_document_name())
    )
    assert "Condition" not in documents
    assert resolve(instances["Resource"], values) == ["arn:aws:ec2:eu-west-1:123456789012:instance/*"]
    tag_key = f"ssm:resourceTag/{conventions.PATCH_TAG_KEY}"
    assert instances["Condition"] == {"StringLike": {tag_key: {"Ref": "AllowedPatchGroups"}}}


def test_no_spoke_policy_names_aws_run_patch_baseline(spoke: dict[str, Any]) -> None:
    for logical_id, statement in identity_statements(spoke):
        assert conventions.AWS_PATCH_DOCUMENT_NAME not in json.dumps(statement["Resource"]), logical_id


@pytest.mark.parametrize("value", ["*", "**", "?", "*?*"])
def test_allowed_patch_groups_cannot_open_every_tagged_instance(spoke: dict[str, Any], value: str) -> None:
    spec = spoke["Parameters"]["AllowedPatchGroups"]

    assert "Default" not in spec  # no wildcard default: the deployer names the patch groups
    assert list(constraint_problems(f"web,{value}", spec)), value


@pytest.mark.parametrize("value", ["web", "dev-*", "app?", "Prod DB", "team/a=b"])
def test_allowed_patch_groups_accepts_tag_values_with_wildcards_inside(spoke: dict[str, Any], value: str) -> None:
    assert not list(constraint_problems(value, spoke["Parameters"]["AllowedPatchGroups"]))


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
    assert resolve(write["Resource"], values) == ["arn:aws:s3:::hub-artifacts/ssm/account-123456789012/*"]
    key_use = statements["EncryptWithHubKeyThroughS3"]
    assert key_use["Resource"] == [{"Ref": "HubKeyArn"}]
    assert resolve(key_use["Condition"]["StringEquals"], values) == {
        "kms:ViaService": "s3.us-east-1.amazonaws.com",
        "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::hub-artifacts",
    }
    all_actions = {a for s in statements.values() for a in as_list(s["Action"])}
    assert not {a for a in all_actions if "Acl" in a or "Policy" in a}


def test_parameters_are_grouped_for_the_console(spoke: dict[str, Any]) -> None:
    interface = spoke["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [name for group in interface["ParameterGroups"] for name in group["Parameters"]]
    assert sorted(grouped) == sorted(spoke["Parameters"])
    assert sorted(interface["ParameterLabels"]) == sorted(spoke["Parameters"])


def test_outputs_expose_role_document_and_policy(spoke: dict[str, Any]) -> None:
    assert set(spoke["Outputs"]) == {
        "SpokeRoleArn",
        "PatchDocumentName",
        "SnapshotDocumentName",
        "InstanceOutputPolicyArn",
        "SpokeOperatorRoleArn",
    }
    assert spoke["Outputs"]["InstanceOutputPolicyArn"]["Condition"] == "ShareInstanceOutput"
