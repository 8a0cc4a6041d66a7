"""The generated templates create in moto CloudFormation, and the functions point at code in the package."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from generator.package import build_package
from rehearsal.template import hub_functions

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
LAYER = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"


@pytest.fixture(scope="module")
def deployed() -> Iterator[dict[str, Any]]:
    package = build_package()
    with mock_aws(config={"lambda": {"use_docker": False}}):  # type: ignore[arg-type]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="code-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket="code-bucket", Key=package.key, Body=package.content)
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(
            StackName="hub",
            TemplateBody=(ROOT / "output" / "hub.json").read_text(),
            Parameters=[
                {"ParameterKey": "CodeBucket", "ParameterValue": "code-bucket"},
                {"ParameterKey": "CodeKey", "ParameterValue": package.key},
                {"ParameterKey": "PowertoolsLayerArn", "ParameterValue": LAYER},
                {"ParameterKey": "OrganizationId", "ParameterValue": "o-a1b2c3d4e5"},
                {"ParameterKey": "KeyAdministratorArns", "ParameterValue": "arn:aws:iam::123456789012:role/deployer"},
                # moto has no AWS::ApiGateway::Account (an account-wide setting); its template side is
                # checked statically in test_approval_template.py.
                {"ParameterKey": "ApiGatewayLoggingRole", "ParameterValue": "existing"},
                {"ParameterKey": "ApprovalAdministratorArns", "ParameterValue": "arn:aws:iam::111111111111:role/d"},
            ],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        cloudformation.create_stack(
            StackName="spoke",
            TemplateBody=(ROOT / "output" / "spoke.json").read_text(),
            Parameters=[
                {"ParameterKey": "HubAccountId", "ParameterValue": "111111111111"},
                {"ParameterKey": "HubRegion", "ParameterValue": REGION},
                {"ParameterKey": "AllowedPatchGroups", "ParameterValue": "web"},
                {"ParameterKey": "ExternalId", "ParameterValue": "external-id-0123456789"},
            ],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        yield {
            "hub": cloudformation.describe_stacks(StackName="hub")["Stacks"][0],
            "spoke": cloudformation.describe_stacks(StackName="spoke")["Stacks"][0],
            "functions": {
                function.name: boto3.client("lambda", region_name=REGION).get_function(
                    FunctionName=function.function_name
                )
                for function in hub_functions()
            },
            "package": zipfile.ZipFile(io.BytesIO(package.content)).namelist(),
        }


def test_hub_and_spoke_stacks_create_completely(deployed: dict[str, Any]) -> None:
    assert deployed["hub"]["StackStatus"] == "CREATE_COMPLETE"
    assert deployed["spoke"]["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in deployed["hub"]["Outputs"]}
    assert outputs["StateMachineArn"].endswith(":stateMachine:patch-orchestrator-patch-run")
    spoke_outputs = {o["OutputKey"]: o["OutputValue"] for o in deployed["spoke"]["Outputs"]}
    assert spoke_outputs["SpokeRoleArn"].endswith(":role/patch-orchestrator-spoke-eu-west-1")


def test_every_function_runs_a_handler_that_is_in_the_package(deployed: dict[str, Any]) -> None:
    for function in hub_functions():
        configuration = deployed["functions"][function.name]["Configuration"]
        module, _, attribute = configuration["Handler"].rpartition(".")
        assert attribute == "lambda_handler"
        assert module.replace(".", "/") + ".py" in deployed["package"], function.name
        assert configuration["Runtime"] == "python3.13"
        variables = configuration["Environment"]["Variables"]
        # moto's CloudFormation skips Secrets Manager secrets, so a reference to the ExternalId secret is dropped.
        assert set(function.variables) - {"EXTERNAL_ID_SECRET_ARN"} <= set(variables) <= set(function.variables)
        assert variables["RUN_TABLE_NAME"] == "patch-orchestrator-runs"
        if "NAME_PREFIX" in variables:
            assert variables["NAME_PREFIX"] == "patch-orchestrator"


def test_the_deploy_role_stack_creates_and_trusts_the_accounts_existing_provider() -> None:
    provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    values = {
        "GitHubOrganization": "example-org",
        "GitHubRepository": "ec2-patch-orchestrator",
        "GitHubEnvironment": "dev",
        "GitHubOidcProviderArn": provider,
        "HubStackName": "patch-orchestrator-hub",
        "SpokeStackSetName": "patch-orchestrator-spokes",
    }
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(
            StackName="deploy-role",
            TemplateBody=(ROOT / "output" / "deploy-role.json").read_text(),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        (stack,) = cloudformation.describe_stacks(StackName="deploy-role")["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        role = boto3.client("iam").get_role(RoleName="patch-orchestrator-github-deploy-eu-west-1")["Role"]
        # moto's CloudFormation creates the bucket but not its versioning; test_deploy_role.py asserts that.
        buckets = [bucket["Name"] for bucket in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]]

    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert outputs["CodeBucketName"] == "patch-orchestrator-code-123456789012-eu-west-1"
    assert outputs["DeployRoleArn"] == role["Arn"]
    assert outputs["CloudFormationRoleArn"].endswith(":role/patch-orchestrator-cloudformation-eu-west-1")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Federated": provider}
    assert trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        "repo:example-org/ec2-patch-orchestrator:environment:dev"
    )
    assert outputs["CodeBucketName"] in buckets
