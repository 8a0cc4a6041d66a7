"""The deploy-role template: who may assume the deploy role, what it may do, and what CloudFormation may do with
the execution role it passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cfnlint.data.schemas
from parliament import UnknownActionException, UnknownPrefixException, expand_action

from rehearsal.template import generated_template

SCHEMAS = Path(cfnlint.data.schemas.__file__).parent
HANDLERS = ("create", "read", "update", "delete")
# Handler permissions the execution role leaves out, because the hub never configures what they serve.
UNUSED_FEATURES = {
    # WAF associations with other resource kinds than an API Gateway stage
    "amplify", "apprunner", "appsync", "bedrock-agentcore", "cognito-idp", "elasticloadbalancing",
    "ec2:AssociateVerifiedAccessInstanceWebAcl", "ec2:DescribeVerifiedAccessInstanceWebAclAssociations",
    "ec2:DisassociateVerifiedAccessInstanceWebAcl", "ec2:GetVerifiedAccessInstanceWebAcl",
    # DynamoDB imports, Kinesis streaming and replicas (their service-linked role); Lambda file systems
    # and managed instances; S3 Tables, metadata tables and replication; log indexes, bearer
    # tokens and Firehose deliveries; secret replication
    "kinesis", "iam:CreateServiceLinkedRole", "dynamodb:DescribeImport", "dynamodb:ImportTable",
    "dynamodb:DescribeKinesisStreamingDestination", "dynamodb:DisableKinesisStreamingDestination",
    "dynamodb:EnableKinesisStreamingDestination", "dynamodb:UpdateKinesisStreamingDestination",
    "dynamodb:CreateTableReplica", "elasticfilesystem", "s3files", "lambda:PassCapacityProvider",
    "lambda:PutFunctionScalingConfig",
    "s3tables", "s3:CreateBucketMetadataTableConfiguration", "s3:DeleteBucketMetadataTableConfiguration",
    "s3:PutReplicationConfiguration", "logs:DescribeIndexPolicies", "logs:DeleteIndexPolicy",
    "logs:PutIndexPolicy", "firehose", "secretsmanager:RemoveRegionsFromReplication",
    "secretsmanager:ReplicateSecretToRegions",
}  # fmt: skip


def deploy_role_template() -> dict[str, Any]:
    return generated_template("deploy-role.json")


def role_statements(logical_id: str) -> list[dict[str, Any]]:
    (policy,) = deploy_role_template()["Resources"][logical_id]["Properties"]["Policies"]
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


def handler_permissions(resource_type: str) -> set[str]:
    """What CloudFormation's handler for ``resource_type`` calls (its resource schema, as cfn-lint ships it)."""
    index = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())
    schema = json.loads((SCHEMAS / "resources" / f"{index[resource_type]}.json").read_text())
    handlers = schema.get("handlers", {})
    return {permission for name in HANDLERS for permission in handlers.get(name, {}).get("permissions", [])}


def is_iam_action(permission: str) -> bool:
    """Some schemas list API operation names (``s3:DeleteBucketCors``) where IAM's action has another name."""
    try:
        expand_action(permission)
    except (UnknownActionException, UnknownPrefixException):
        return False
    return True


def unused(permission: str) -> bool:
    return permission in UNUSED_FEATURES or permission.split(":", maxsplit=1)[0] in UNUSED_FEATURES


def test_only_jobs_of_the_named_repository_and_environment_may_assume_the_deploy_role() -> None:
    properties = deploy_role_template()["Resources"]["DeployRole"]["Properties"]
    (statement,) = properties["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert statement["Principal"]["Federated"] == {
        "Fn::If": ["CreatesOidcProvider", {"Ref": "GitHubOidcProvider"}, {"Ref": "GitHubOidcProviderArn"}]
    }
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": {
                "Fn::Sub": [
                    "repo:${Organization}/${Repository}:environment:${Environment}",
                    {
                        "Environment": {"Ref": "GitHubEnvironment"},
                        "Organization": {"Ref": "GitHubOrganization"},
                        "Repository": {"Ref": "GitHubRepository"},
                    },
                ]
            },
        }
    }


def test_the_oidc_provider_is_created_only_when_the_account_has_none() -> None:
    template = deploy_role_template()
    provider = template["Resources"]["GitHubOidcProvider"]

    assert provider["Condition"] == "CreatesOidcProvider"
    assert template["Conditions"]["CreatesOidcProvider"] == {"Fn::Equals": [{"Ref": "GitHubOidcProviderArn"}, ""]}
    assert provider["Properties"] == {
        "ClientIdList": ["sts.amazonaws.com"],
        "Url": "https://token.actions.githubusercontent.com",
    }


def test_the_deploy_role_passes_only_the_execution_role_and_only_to_cloudformation() -> None:
    passing = [s for s in role_statements("DeployRole") if "iam:PassRole" in s["Action"]]

    assert passing == [
        {
            "Action": ["iam:PassRole"],
            "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": [{"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}],
            "Sid": "PassExecutionRoleToCloudFormation",
        }
    ]
    actions = {action for statement in role_statements("DeployRole") for action in statement["Action"]}
    # No administration of what the hub holds: CloudFormation does that, as the execution role.
    assert not {action for action in actions if action.split(":")[0] in {"lambda", "dynamodb", "sns", "sqs"}}
    assert {action for action in actions if action.startswith("iam:")} == {"iam:PassRole"}


def test_only_cloudformation_may_assume_the_execution_role() -> None:
    properties = deploy_role_template()["Resources"]["CloudFormationExecutionRole"]["Properties"]
    (statement,) = properties["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole"]


def test_the_execution_role_allows_what_cloudformation_calls_for_every_resource_of_the_hub() -> None:
    allowed = {action for statement in role_statements("CloudFormationExecutionRole") for action in statement["Action"]}
    hub_types = {resource["Type"] for resource in generated_template("hub.json")["Resources"].values()}
    assert len(hub_types) >= 20

    needed = {
        permission
        for resource_type in hub_types
        for permission in handler_permissions(resource_type)
        if is_iam_action(permission) and not unused(permission)
    }

    assert needed - allowed == set()
    # Nothing beyond them but the log deliveries Step Functions logging needs (AWS documents these for the caller
    # that creates a state machine with logging) and reads newer than parliament's database (docs/security.md).
    assert allowed - needed == {
        "lambda:GetFunctionScalingConfig",
        "s3:GetBucketAbac",
        "logs:DeleteLogDelivery",
        "logs:GetLogDelivery",
        "logs:ListLogDeliveries",
        "logs:UpdateLogDelivery",
    }


def test_the_coverage_check_catches_a_missing_handler_permission() -> None:
    assert "dynamodb:UpdateTimeToLive" in handler_permissions("AWS::DynamoDB::Table")
    assert is_iam_action("dynamodb:UpdateTimeToLive")
    assert not is_iam_action("s3:DeleteBucketCors")
    assert unused("kinesis:DescribeStream")
    assert not unused("dynamodb:UpdateTimeToLive")


def test_the_code_bucket_is_versioned_encrypted_private_and_tls_only() -> None:
    resources = deploy_role_template()["Resources"]
    bucket = resources["CodeBucket"]["Properties"]

    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (deny,) = resources["CodeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
