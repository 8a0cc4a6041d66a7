"""The hub's own boundaries: named key administrators, the organisation, account-first instance output, the
ExternalId's readers, and the code the functions run."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from generator.parameter_files import constraint_problems
from handlers.contract import conventions
from rehearsal.template import generated_template, resolve
from tests.support.policies import as_list, identity_statements

ACCOUNT, REGION = "123456789012", "eu-west-1"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/deployer"
POWER_USER = f"arn:aws:iam::{ACCOUNT}:role/PowerUser"
FLEET_ROLES = [
    f"arn:aws:iam::{ACCOUNT}:role/"
    + conventions.HUB_FLEET_ROLE_NAME.format(prefix=conventions.DEFAULT_NAME_PREFIX, purpose=purpose, region=REGION)
    for purpose in conventions.FLEET_PURPOSES
]
VALUES = {
    "NamePrefix": conventions.DEFAULT_NAME_PREFIX,
    "KeyAdministratorArns": [ADMIN],
    "OrganizationId": "o-a1b2c3d4e5",
}
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0123abcd-0123-0123-0123-0123456789ab"


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return generated_template("hub.json")


def resources_of(hub: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {logical_id: r for logical_id, r in hub["Resources"].items() if r["Type"] == kind}


def key_policy(key: dict[str, Any], *, sharing: bool = True) -> list[dict[str, Any]]:
    policy = resolve(key["Properties"]["KeyPolicy"], VALUES, conditions={"SharesInstanceOutput": sharing})
    return list(policy["Statement"])


def denies(statement: dict[str, Any], action: str, context: dict[str, Any]) -> bool:
    """Whether a Deny statement applies to ``action`` in ``context`` (the operators these policies use)."""
    if statement["Effect"] != "Deny" or not any(fnmatch.fnmatchcase(action, a) for a in as_list(statement["Action"])):
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, expected in keys.items():
            present = key in context
            value = context.get(key)
            allowed = [str(item) for item in as_list(expected)]
            if operator == "ArnNotEquals":
                holds = not present or str(value) not in allowed
            elif operator in ("StringNotEquals", "StringNotEqualsIfExists"):
                holds = not present or str(value) not in allowed  # negated and IfExists: true when absent
            elif operator == "Bool":
                holds = present and str(value).lower() in allowed
            elif operator == "BoolIfExists":
                holds = not present or str(value).lower() in allowed
            elif operator == "Null":
                holds = (not present) == (allowed == ["true"])
            else:
                raise AssertionError(f"no evaluation for {operator}")
            if not holds:
                return False
    return True


def denied(statements: list[dict[str, Any]], action: str, **context: Any) -> bool:
    return any(denies(statement, action, context) for statement in statements)


@pytest.mark.parametrize("key_id", ["HubKey", "ApprovalSigningKey"])
@pytest.mark.parametrize(
    "action",
    ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CreateGrant", "kms:DisableKey", "kms:TagResource"],
)
def test_only_the_key_administrators_administer_each_key(hub: dict[str, Any], key_id: str, action: str) -> None:
    statements = key_policy(hub["Resources"][key_id])
    human = {"aws:PrincipalIsAWSService": "false", "kms:GrantIsForAWSResource": "false"}

    assert denied(statements, action, **{"aws:PrincipalArn": POWER_USER}, **human)
    assert not denied(statements, action, **{"aws:PrincipalArn": ADMIN}, **human)


@pytest.mark.parametrize("key_id", ["HubKey", "ApprovalSigningKey"])
def test_aws_services_still_grant_themselves_use_for_the_resources_the_deployer_creates(
    hub: dict[str, Any], key_id: str
) -> None:
    statements = key_policy(hub["Resources"][key_id])

    # Lambda (environment) and DynamoDB (table) create grants for their resources with the caller's identity.
    for_a_resource = {"aws:PrincipalArn": POWER_USER, "aws:PrincipalIsAWSService": "false"}
    assert not denied(statements, "kms:CreateGrant", **for_a_resource, **{"kms:GrantIsForAWSResource": "true"})
    assert denied(statements, "kms:PutKeyPolicy", **for_a_resource, **{"kms:GrantIsForAWSResource": "true"})
    assert not denied(
        statements, "kms:Decrypt", **{"aws:PrincipalArn": POWER_USER, "aws:PrincipalIsAWSService": "false"}
    )


def test_key_administrators_are_required_roles_of_this_account(hub: dict[str, Any]) -> None:
    spec = hub["Parameters"]["KeyAdministratorArns"]

    assert "Default" not in spec
    assert "deploys this stack" in spec["Description"]
    assert not list(constraint_problems(f"{ADMIN},arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/x", spec))
    for refused in (
        f"arn:aws:iam::{ACCOUNT}:role/*",
        f"arn:aws:iam::{ACCOUNT}:user/admin",
        f"arn:aws:iam::{ACCOUNT}:root",
    ):
        assert list(constraint_problems(refused, spec)), refused


def test_fleet_roles_assume_spoke_roles_only_inside_the_organisation(hub: dict[str, Any]) -> None:
    assuming = [(lid, s) for lid, s in identity_statements(hub) if "sts:AssumeRole" in as_list(s["Action"])]

    assert len(assuming) == len(conventions.FLEET_PURPOSES)
    for logical_id, statement in assuming:
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}, logical_id
    spec = hub["Parameters"]["OrganizationId"]
    assert "Default" not in spec
    assert re.fullmatch(spec["AllowedPattern"], "o-a1b2c3d4e5")
    assert not re.fullmatch(spec["AllowedPattern"], "")


def test_only_fleet_roles_and_key_administrators_read_the_external_id(hub: dict[str, Any]) -> None:
    (policy,) = resources_of(hub, "AWS::SecretsManager::ResourcePolicy").values()
    properties = resolve(policy["Properties"], VALUES | {"SpokeExternalIdSecret": "secret"})
    (statement,) = properties["ResourcePolicy"]["Statement"]

    assert properties["SecretId"] == "secret"
    assert sorted(statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]) == sorted([ADMIN, *FLEET_ROLES])
    for reader in (ADMIN, *FLEET_ROLES):
        assert not denied([statement], "secretsmanager:GetSecretValue", **{"aws:PrincipalArn": reader})
    assert denied([statement], "secretsmanager:GetSecretValue", **{"aws:PrincipalArn": POWER_USER})


def test_fleet_role_arns_in_the_secret_policy_are_the_fleet_functions_roles(hub: dict[str, Any]) -> None:
    names = {
        f"arn:aws:iam::{ACCOUNT}:role/" + resolve(role["Properties"]["RoleName"], VALUES)
        for role in resources_of(hub, "AWS::IAM::Role").values()
        if "RoleName" in role["Properties"] and "-fleet-" in str(role["Properties"]["RoleName"])
    }

    assert names == set(FLEET_ROLES)


def bucket_statements(hub: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (policy,) = resources_of(hub, "AWS::S3::BucketPolicy").values()
    document = resolve(
        policy["Properties"]["PolicyDocument"],
        VALUES,
        attributes={("ArtifactBucket", "Arn"): "arn:aws:s3:::hub-artifacts", ("HubKey", "Arn"): KEY_ARN},
        conditions={"SharesInstanceOutput": True},
    )
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_an_account_writes_instance_output_only_under_its_own_prefix(hub: dict[str, Any]) -> None:
    write = bucket_statements(hub)["OrganisationInstancesWriteOwnAccountOutput"]
    (pattern,) = write["Resource"]
    fixed, _, _ = pattern.partition("${aws:PrincipalAccount}")

    assert write["Action"] == ["s3:PutObject"]
    # No wildcard before the account can cross a "/".
    assert not {"*", "?"} & set(fixed)
    own = "arn:aws:s3:::hub-artifacts/" + conventions.INSTANCE_OUTPUT_PREFIX.format(
        account="222222222222", run="R", region=REGION, phase=conventions.PATCH
    )
    as_account = {
        account: pattern.replace("${aws:PrincipalAccount}", account) for account in ("111111111111", "222222222222")
    }
    assert fnmatch.fnmatchcase(own + "/i-1/stdout", as_account["222222222222"])
    # Account 1 cannot reach into account 2's evidence, nor into the hub's own prefixes.
    assert not fnmatch.fnmatchcase(own + "/ssm/account-111111111111/x", as_account["111111111111"])
    assert not fnmatch.fnmatchcase(
        "arn:aws:s3:::hub-artifacts/runs/R/pre/account-111111111111/x", as_account["111111111111"]
    )


def test_every_write_is_encrypted_with_the_hub_key(hub: dict[str, Any]) -> None:
    statements = list(bucket_statements(hub).values())
    put = "s3:PutObject"

    assert not denied(statements, put)  # no header: the bucket's default, the hub key
    assert not denied(
        statements,
        put,
        **{"s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN},
    )
    assert denied(statements, put, **{"s3:x-amz-server-side-encryption": "AES256"})
    assert denied(
        statements,
        put,
        **{
            "s3:x-amz-server-side-encryption": "aws:kms",
            "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN.replace("0123abcd", "ffffffff"),
        },
    )
    assert denied(statements, put, **{"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"})


def test_the_organisation_uses_the_hub_key_only_for_the_artifact_bucket(hub: dict[str, Any]) -> None:
    statements = {s["Sid"]: s for s in key_policy(hub["Resources"]["HubKey"])}
    condition = statements["OrganisationInstancesEncryptOutputThroughS3"]["Condition"]["StringEquals"]
    bucket_name = resolve(hub["Resources"]["ArtifactBucket"]["Properties"]["BucketName"], VALUES)

    assert condition["kms:EncryptionContext:aws:s3:arn"] == f"arn:aws:s3:::{bucket_name}"
    assert condition["aws:PrincipalOrgID"] == "o-a1b2c3d4e5"


def test_the_artifact_bucket_name_fits_s3_for_the_longest_prefix_and_region(hub: dict[str, Any]) -> None:
    name = hub["Resources"]["ArtifactBucket"]["Properties"]["BucketName"]
    longest = resolve(name, {"NamePrefix": "a" * 30, "AWS::Region": "ap-southeast-2"})

    assert len(longest) <= 63
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", longest)
    assert re.fullmatch(hub["Parameters"]["NamePrefix"]["AllowedPattern"], "a" * 30)
    for refused in ("xn--prefix", "sthree-prefix"):
        assert not re.fullmatch(hub["Parameters"]["NamePrefix"]["AllowedPattern"], refused), refused


def test_every_function_can_require_signed_code_and_pin_its_package_version(hub: dict[str, Any]) -> None:
    functions = resources_of(hub, "AWS::Lambda::Function")

    assert functions
    for logical_id, function in functions.items():
        properties = function["Properties"]
        assert properties["CodeSigningConfigArn"] == {
            "Fn::If": ["SignsCode", {"Ref": "CodeSigningConfigArn"}, {"Ref": "AWS::NoValue"}]
        }, logical_id
        assert properties["Code"]["S3ObjectVersion"] == {
            "Fn::If": ["PinsCodeObjectVersion", {"Ref": "CodeObjectVersion"}, {"Ref": "AWS::NoValue"}]
        }, logical_id
        assert properties["Code"]["S3Key"] == {"Ref": "CodeKey"}
    assert hub["Parameters"]["CodeSigningConfigArn"]["Default"] == ""
    assert re.fullmatch(hub["Parameters"]["CodeKey"]["AllowedPattern"], "handlers/" + "0" * 64 + ".zip")
    assert not re.fullmatch(hub["Parameters"]["CodeKey"]["AllowedPattern"], "handlers/latest.zip")
