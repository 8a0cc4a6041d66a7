"""``python -m generator deploy`` end to end against moto: create, redeploy unchanged, change, and refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result
from moto import mock_aws
from moto.cloudformation.models import cloudformation_backends

from generator.__main__ import cli
from generator.package import build_package
from rehearsal import moto_shims

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's own account: the hub's, and the organisation's management account
REGION = "eu-west-1"
BUCKET = "patch-orchestrator-code-test"
LAYER = f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"
STACK, STACK_SET = "patch-orchestrator-test-hub", "patch-orchestrator-test-spokes"


def entries(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


@dataclass
class Organisation:
    directory: Path
    ou_id: str
    member_accounts: list[str]

    def deploy(self, *arguments: str) -> Result:
        return CliRunner().invoke(
            cli,
            [
                "deploy",
                "test",
                "--parameters-dir",
                str(self.directory),
                "--output-dir",
                str(ROOT / "output"),
                *arguments,
            ],
        )

    def write(self, stack: str, document: Any) -> None:
        (self.directory / f"{stack}-test.json").write_text(json.dumps(document, indent=2))

    def edit(self, stack: str, **changes: str) -> None:
        path = self.directory / f"{stack}-test.json"
        values = {e["ParameterKey"]: e["ParameterValue"] for e in json.loads(path.read_text())}
        self.write(stack, entries({**values, **changes}))


@pytest.fixture
def organisation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Organisation]:
    """An organisation in moto with one OU of two accounts, a code bucket, and a ``test`` environment for it."""
    moto_shims.install_cloudformation(monkeypatch)
    with mock_aws(config={"lambda": {"use_docker": False}}):  # type: ignore[arg-type]
        organizations = boto3.client("organizations", region_name="us-east-1")
        organizations.create_organization(FeatureSet="ALL")
        root = organizations.list_roots()["Roots"][0]["Id"]
        ou = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
        members = []
        for name in ("web", "data"):
            status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
            organizations.move_account(AccountId=status["AccountId"], SourceParentId=root, DestinationParentId=ou)
            members.append(status["AccountId"])
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        directory = tmp_path / "parameters"
        directory.mkdir()
        found = Organisation(directory, ou, members)
        organisation_id = organizations.describe_organization()["Organization"]["Id"]
        found.write(
            "hub",
            entries(
                {
                    "NamePrefix": "patch-orchestrator-test",
                    "CodeBucket": BUCKET,
                    "PowertoolsLayerArn": LAYER,
                    # moto has no AWS::ApiGateway::Account (an account-wide setting).
                    "ApiGatewayLoggingRole": "existing",
                    "LogRetentionInDays": "30",
                    "Approvers": "ops@example.com",
                    "ApprovalAdministratorArns": f"arn:aws:iam::{ACCOUNT}:role/deployer",
                    "OrganizationId": organisation_id,
                    "KeyAdministratorArns": f"arn:aws:iam::{ACCOUNT}:role/deployer",
                }
            ),
        )
        found.write(
            "spoke",
            entries(
                {
                    "NamePrefix": "patch-orchestrator-test",
                    "HubAccountId": ACCOUNT,
                    "HubRegion": REGION,
                    "AllowedPatchGroups": "web",
                }
            ),
        )
        found.write(
            "deploy",
            {
                "hub": {"accountId": ACCOUNT, "region": REGION, "stackName": STACK, "tags": {"Environment": "test"}},
                "spokes": {
                    "stackSetName": STACK_SET,
                    "callAs": "SELF",
                    "organizationalUnitIds": [ou],
                    "regions": [REGION],
                },
            },
        )
        yield found


def external_id() -> str:
    outputs = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)["Stacks"][0][
        "Outputs"
    ]
    secret = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "ExternalIdSecretArn")
    return str(boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=secret)["SecretString"])


def spoke_instances() -> list[tuple[str, str, str]]:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    summaries = cloudformation.list_stack_instances(StackSetName=STACK_SET, CallAs="SELF")["Summaries"]
    return sorted((summary["Account"], summary["Region"], summary["Status"]) for summary in summaries)


def test_a_first_deploy_creates_the_hub_and_a_spoke_in_every_account_of_the_ou(organisation: Organisation) -> None:
    result = organisation.deploy()

    assert result.exit_code == 0, result.output
    package = build_package()
    assert f"uploaded s3://{BUCKET}/{package.key}" in result.output
    assert f"hub stack {STACK}: created" in result.output
    assert "Add PatchRunStateMachine AWS::StepFunctions::StateMachine" in result.output
    assert "StateMachineArn = arn:aws:states:eu-west-1" in result.output
    assert f"spoke StackSet {STACK_SET}: created" in result.output
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {"ParameterKey": "CodeKey", "ParameterValue": package.key} in stack["Parameters"]
    assert {(account, region) for account, region, _ in spoke_instances()} == {
        (account, REGION) for account in organisation.member_accounts
    }
    # The spokes got the hub's generated ExternalId, and nobody saw it.
    secret = external_id()
    assert secret not in result.output
    stack_set = boto3.client("cloudformation", region_name=REGION).describe_stack_set(StackSetName=STACK_SET)
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["StackSet"]["Parameters"]}
    assert parameters["ExternalId"] == secret
    assert parameters["AllowedPatchGroups"] == "web"


def test_deploying_again_without_a_change_changes_nothing(organisation: Organisation) -> None:
    assert organisation.deploy().exit_code == 0
    before = spoke_instances()

    again = organisation.deploy()

    assert again.exit_code == 0, again.output
    assert "uploaded" not in again.output
    assert f"hub stack {STACK}: no changes" in again.output
    assert f"spoke StackSet {STACK_SET}: no changes" in again.output
    assert spoke_instances() == before


def test_a_changed_parameter_updates_the_hub_and_the_spokes(organisation: Organisation) -> None:
    assert organisation.deploy().exit_code == 0
    organisation.edit("hub", LogRetentionInDays="90")
    organisation.edit("spoke", AllowedPatchGroups="web,db")

    changed = organisation.deploy()

    assert changed.exit_code == 0, changed.output
    assert f"hub stack {STACK}: updated" in changed.output
    assert f"spoke StackSet {STACK_SET}: update succeeded" in changed.output
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)["Stacks"][0]
    assert {"ParameterKey": "LogRetentionInDays", "ParameterValue": "90"} in stack["Parameters"]
    stack_set = boto3.client("cloudformation", region_name=REGION).describe_stack_set(StackSetName=STACK_SET)
    assert {"ParameterKey": "AllowedPatchGroups", "ParameterValue": "web,db"} in stack_set["StackSet"]["Parameters"]


def test_only_the_hub_is_deployed_when_asked(organisation: Organisation) -> None:
    result = organisation.deploy("--only", "hub")

    assert result.exit_code == 0, result.output
    assert "spoke StackSet" not in result.output
    assert not boto3.client("cloudformation", region_name=REGION).list_stack_sets()["Summaries"]


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    return line


def test_credentials_of_another_account_are_refused_before_anything_is_uploaded(organisation: Organisation) -> None:
    deploy_file = organisation.directory / "deploy-test.json"
    document = json.loads(deploy_file.read_text())
    document["hub"]["accountId"] = "111111111111"
    deploy_file.write_text(json.dumps(document))
    organisation.edit("spoke", HubAccountId="111111111111")
    organisation.edit("hub", ApprovalAdministratorArns="arn:aws:iam::111111111111:role/deployer")
    organisation.edit("hub", KeyAdministratorArns="arn:aws:iam::111111111111:role/deployer")

    line = one_line_error(organisation.deploy())

    assert f"the credentials are for account {ACCOUNT}" in line
    assert "deploys to 111111111111" in line
    assert "Contents" not in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)


def test_a_missing_code_bucket_is_named(organisation: Organisation) -> None:
    organisation.edit("hub", CodeBucket="no-such-code-bucket")

    line = one_line_error(organisation.deploy())

    assert "code bucket no-such-code-bucket" in line
    assert "CodeBucket) does not exist or is not this account's" in line


def test_a_stack_whose_first_create_rolled_back_must_be_deleted_first(organisation: Organisation) -> None:
    assert organisation.deploy("--only", "hub").exit_code == 0
    (stack,) = [s for s in cloudformation_backends[ACCOUNT][REGION].stacks.values() if s.name == STACK]
    stack.status = "ROLLBACK_COMPLETE"

    line = one_line_error(organisation.deploy())

    assert f"stack {STACK} is ROLLBACK_COMPLETE" in line
    assert f"aws cloudformation delete-stack --stack-name {STACK} --region {REGION}" in line


def test_a_running_stack_set_operation_is_reported_not_raced(
    organisation: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert organisation.deploy().exit_code == 0
    organisation.edit("spoke", AllowedPatchGroups="web,db")

    def busy(**kwargs: Any) -> None:
        if kwargs["model"].name == "UpdateStackSet":
            error = {"Error": {"Code": "OperationInProgressException", "Message": "Another operation is in progress"}}
            raise ClientError(error, "UpdateStackSet")

    # The one fault moto cannot produce: AWS runs one StackSet operation at a time; this one is still running.
    session = boto3.Session()
    session.events.register("before-call.cloudformation.UpdateStackSet", busy)
    monkeypatch.setattr(boto3, "Session", lambda: session)

    line = one_line_error(organisation.deploy("--only", "spokes"))

    assert f"StackSet {STACK_SET} has an operation running" in line
    assert "list-stack-set-operations" in line


def test_missing_credentials_are_one_line(organisation: Organisation, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    assert "no AWS credentials" in one_line_error(organisation.deploy())


def test_a_stale_output_directory_is_refused(organisation: Organisation, tmp_path: Path) -> None:
    stale = tmp_path / "output"
    stale.mkdir()
    (stale / "hub.json").write_text("{}")

    result = CliRunner().invoke(
        cli, ["deploy", "test", "--parameters-dir", str(organisation.directory), "--output-dir", str(stale)]
    )

    assert "differs from what the code generates" in one_line_error(result)


def test_a_refused_environment_deploys_nothing(organisation: Organisation) -> None:
    organisation.edit("spoke", NamePrefix="someone-else")

    result = organisation.deploy()

    assert "environment 'test' refused; nothing was deployed" in one_line_error(result)
    assert "NamePrefix: 'someone-else' differs from the hub's" in result.output


def test_a_package_replaced_under_its_key_is_refused_before_anything_is_deployed(organisation: Organisation) -> None:
    key = build_package().key
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=b"someone else's code")

    line = one_line_error(organisation.deploy())

    assert f"s3://{BUCKET}/{key} holds other bytes than its name's sha256" in line
    stacks = boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"]
    assert not [s for s in stacks if s["StackName"] == STACK]


def test_a_versioned_code_bucket_pins_the_functions_to_the_checked_package_version(
    organisation: Organisation,
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})

    result = organisation.deploy("--only", "hub")

    assert result.exit_code == 0, result.output
    version = s3.head_object(Bucket=BUCKET, Key=build_package().key)["VersionId"]
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)["Stacks"][0]
    assert {"ParameterKey": "CodeObjectVersion", "ParameterValue": version} in stack["Parameters"]


Call = tuple[str, str, dict[str, Any]]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every AWS API call the deploy command makes: (IAM service prefix, operation, request parameters)."""
    recorded: list[Call] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        recorded.append((model.service_model.endpoint_prefix, model.name, params))

    session = boto3.Session()
    session.events.register("before-parameter-build.*.*", record)
    monkeypatch.setattr(boto3, "Session", lambda: session)
    return recorded


def deploy_role_actions() -> set[str]:
    template = json.loads((ROOT / "output" / "deploy-role.json").read_text())
    (policy,) = template["Resources"]["DeployRole"]["Properties"]["Policies"]
    return {action for statement in policy["PolicyDocument"]["Statement"] for action in statement["Action"]}


# API operations whose IAM action has another name, and the one that needs no permission at all.
IAM_ACTION = {"s3:HeadObject": "s3:GetObject"}
NO_PERMISSION = {"sts:GetCallerIdentity"}
# Allowed though a successful deploy in moto does not call them, each for a reason.
NOT_CALLED_HERE = {
    "cloudformation:DescribeStackEvents",  # only after a failed stack operation, to name its reasons
    "cloudformation:ListStackSetOperationResults",  # only after a failed StackSet operation, likewise
    "cloudformation:TagResource",  # AWS authorises the tags of CreateChangeSet/CreateStackSet separately
    "iam:PassRole",  # the CloudFormation execution role, passed by the RoleARN of every change set
    "kms:Decrypt",  # AWS decrypts the ExternalId secret with the hub key on the caller's behalf
    "s3:ListBucket",  # without it S3 answers HeadObject of a missing key 403, not 404 (the upload decision)
    "organizations:ListDelegatedAdministrators",  # AWS checks the caller of CallAs DELEGATED_ADMIN
    "states:ValidateStateMachineDefinition",  # the deploy workflow's check before the deploy command
}


def test_the_deploy_role_allows_exactly_what_a_deploy_calls(organisation: Organisation, calls: list[Call]) -> None:
    assert organisation.deploy().exit_code == 0
    assert organisation.deploy().exit_code == 0  # unchanged: deletes the empty change set
    organisation.edit("spoke", AllowedPatchGroups="web,db")
    assert organisation.deploy().exit_code == 0  # changed: updates the StackSet

    made = {f"{service}:{operation}" for service, operation, _ in calls} - NO_PERMISSION
    needed = {IAM_ACTION.get(call, call) for call in made}

    allowed = deploy_role_actions()
    assert needed <= allowed, sorted(needed - allowed)
    assert allowed - needed == NOT_CALLED_HERE


def with_cloudformation_role(organisation: Organisation, role: str) -> None:
    path = organisation.directory / "deploy-test.json"
    document = json.loads(path.read_text())
    document["hub"]["cloudFormationRoleArn"] = role
    path.write_text(json.dumps(document))


def test_cloudformation_creates_the_hub_with_the_role_the_deploy_file_names(
    organisation: Organisation, calls: list[Call]
) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/patch-orchestrator-test-cloudformation-{REGION}"
    with_cloudformation_role(organisation, role)
    organisation.edit("hub", ApprovalAdministratorArns=role)  # it writes the approval policies
    organisation.edit("hub", KeyAdministratorArns=role)  # and the key policies

    assert organisation.deploy("--only", "hub").exit_code == 0

    (change_set,) = [params for _, operation, params in calls if operation == "CreateChangeSet"]
    assert change_set["RoleARN"] == role


def test_without_a_role_the_hub_is_created_with_the_deployers_credentials(
    organisation: Organisation, calls: list[Call]
) -> None:
    assert organisation.deploy("--only", "hub").exit_code == 0

    (change_set,) = [params for _, operation, params in calls if operation == "CreateChangeSet"]
    assert "RoleARN" not in change_set


def test_a_cloudformation_role_of_another_account_is_refused(organisation: Organisation) -> None:
    with_cloudformation_role(organisation, "arn:aws:iam::999999999999:role/someone-elses")

    result = organisation.deploy()

    assert "environment 'test' refused; nothing was deployed" in one_line_error(result)
    assert "deploy-test.json: hub.cloudFormationRoleArn: a role of account 999999999999" in result.output
