"""An environment's files agree with the templates and with each other; ``validate`` says so in one line each."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator import environments
from generator.__main__ import cli
from generator.build import templates
from generator.parameter_files import ParameterFileError

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "parameters"
TEMPLATES = templates()
FUNCTION_COUNTS = {"fleet": 4, "record": 1, "control": 5, "approval": 3}


@pytest.fixture
def parameters(tmp_path: Path) -> Path:
    """A copy of the committed parameters/ directory to break (and the run documents its schedules start)."""
    copy = tmp_path / "parameters"
    shutil.copytree(COMMITTED, copy)
    shutil.copytree(COMMITTED.parent / "examples", tmp_path / "examples")
    return copy


def edit(path: Path, change: Any) -> None:
    document = json.loads(path.read_text())
    if isinstance(document, list):
        values = {entry["ParameterKey"]: entry["ParameterValue"] for entry in document}
        change(values)
        document = [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]
    else:
        change(document)
    path.write_text(json.dumps(document))


def problems(directory: Path, name: str = "dev") -> str:
    with pytest.raises(ParameterFileError) as refused:
        environments.load(name, directory, TEMPLATES)
    return "\n".join(refused.value.problems)


def test_the_repository_has_a_dev_and_a_prod_environment() -> None:
    assert environments.names(COMMITTED) == ["dev", "prod"]
    assert sorted(path.name for path in COMMITTED.glob("*.json")) == sorted(
        f"{stack}-{name}.json" for name in ("dev", "prod") for stack in ("deploy", "hub", "schedules", "spoke")
    )


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_committed_environments_load(name: str) -> None:
    environment = environments.load(name, COMMITTED, TEMPLATES)

    assert environment.hub.stack == "hub"
    assert environment.hub_placement.tags["Environment"] == name
    assert environment.spoke_placement.regions
    assert environment.spoke_placement.call_as == "DELEGATED_ADMIN"


def test_the_reserved_concurrency_is_summed_from_the_template_and_the_parameters(parameters: Path) -> None:
    default = environments.load("dev", parameters, TEMPLATES)
    assert default.reserved_concurrency == 4 * 20 + 10 + 5 * 2 + 3 * 5
    assert default.required_lambda_quota == default.reserved_concurrency + 100

    edit(parameters / "hub-dev.json", lambda values: values.update(FleetFunctionConcurrency="50"))
    assert environments.load("dev", parameters, TEMPLATES).reserved_concurrency == 4 * 50 + 10 + 5 * 2 + 3 * 5

    edit(parameters / "hub-dev.json", lambda values: values.update(ReserveConcurrency="false"))
    assert environments.load("dev", parameters, TEMPLATES).reserved_concurrency == 0


def test_function_concurrency_classes_are_what_the_sum_assumes() -> None:
    counted: dict[str, int] = {}
    for resource in TEMPLATES["hub"]["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            reference = resource["Properties"]["ReservedConcurrentExecutions"]["Fn::If"][1]["Ref"]
            counted[reference] = counted.get(reference, 0) + 1
    assert counted == {
        "FleetFunctionConcurrency": FUNCTION_COUNTS["fleet"],
        "RecordFunctionConcurrency": FUNCTION_COUNTS["record"],
        "ControlFunctionConcurrency": FUNCTION_COUNTS["control"],
        "ApprovalFunctionConcurrency": FUNCTION_COUNTS["approval"],
    }


def test_a_spoke_with_another_prefix_than_the_hub_is_refused(parameters: Path) -> None:
    edit(parameters / "spoke-dev.json", lambda values: values.update(NamePrefix="patch-orchestrator"))

    found = problems(parameters)
    assert "spoke-dev.json: NamePrefix: 'patch-orchestrator' differs from the hub's 'patch-orchestrator-dev'" in found


def test_a_spoke_that_names_another_hub_account_is_refused(parameters: Path) -> None:
    edit(parameters / "spoke-dev.json", lambda values: values.update(HubAccountId="999999999999"))

    assert "spoke-dev.json: HubAccountId: '999999999999' is not the hub's account '111111111111'" in problems(
        parameters
    )


def test_a_layer_of_another_region_is_refused(parameters: Path) -> None:
    layer = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"
    edit(parameters / "hub-dev.json", lambda values: values.update(PowertoolsLayerArn=layer))

    assert "hub-dev.json: PowertoolsLayerArn: a layer in us-east-1" in problems(parameters)


def test_instance_output_in_the_spokes_needs_the_hubs_organisation(parameters: Path) -> None:
    key = "arn:aws:kms:eu-west-1:111111111111:key/0123abcd-0123-0123-0123-0123456789ab"
    edit(
        parameters / "spoke-dev.json",
        lambda values: values.update(HubArtifactBucketName="patch-artifacts", HubKeyArn=key),
    )

    assert "HubKeyArn: instance output is set up in the spokes but the hub's ShareInstanceOutput is not true" in (
        problems(parameters)
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["spokes"].update(organizationalUnitIds=["ou-typo"]), "spokes.organizationalUnitIds[0]:"),
        (lambda d: d["spokes"].update(regions=["eu-west"]), "spokes.regions[0]: must match pattern"),
        (lambda d: d["spokes"].update(failureTolerancePercentage=150), "spokes.failureTolerancePercentage:"),
        (lambda d: d["spokes"].update(callAs="ROOT"), "spokes.callAs: must be one of"),
        (lambda d: d["hub"].update(accountId="1111"), "hub.accountId: must match pattern"),
        (lambda d: d.update(extra=True), "(file): must not contain"),
        (lambda d: d["hub"].update(tags={"aws:cloudformation": "x"}), "hub.tags: must be named by propertyName"),
    ],
    ids=["ou", "region", "tolerance", "call-as", "account", "unknown-key", "reserved-tag"],
)
def test_a_malformed_deployment_file_is_refused_naming_the_field(parameters: Path, change: Any, expected: str) -> None:
    edit(parameters / "deploy-dev.json", change)

    assert expected in problems(parameters)


def test_a_missing_file_of_the_environment_is_named(parameters: Path) -> None:
    (parameters / "spoke-dev.json").unlink()

    assert "spoke-dev.json: missing: environment 'dev' needs a spoke parameter file" in problems(parameters)


def test_validate_checks_every_environment_and_prints_the_quota_it_needs() -> None:
    result = CliRunner().invoke(cli, ["validate", "--parameters-dir", str(COMMITTED)])

    assert result.exit_code == 0, result.output
    assert result.output.count(": ok (") == 2
    assert "needs a Lambda quota of at least 215" in result.output


def test_validate_refuses_in_one_line_per_problem_and_never_a_traceback(parameters: Path) -> None:
    (parameters / "hub-dev.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (parameters / "hub-staging.json").write_text("[]")

    result = CliRunner().invoke(cli, ["validate", "--parameters-dir", str(parameters)])

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{parameters / 'hub-dev.json'}: not UTF-8 text" in result.output
    assert f"{parameters / 'hub-staging.json'}: belongs to no environment" in result.output
    assert "prod: ok (" in result.output
    assert "1 of 2 environments refused, 1 stray files" in result.output


def test_a_spoke_naming_another_hub_region_is_refused(parameters: Path) -> None:
    edit(parameters / "spoke-dev.json", lambda values: values.update(HubRegion="us-east-1"))

    assert "spoke-dev.json: HubRegion: 'us-east-1' is not the hub's region 'eu-west-1'" in problems(parameters)


def test_a_key_administrator_of_another_account_is_refused(parameters: Path) -> None:
    elsewhere = "arn:aws:iam::222222222222:role/deployer"
    edit(parameters / "hub-dev.json", lambda values: values.update(KeyAdministratorArns=elsewhere))

    assert f"hub-dev.json: KeyAdministratorArns: {elsewhere} is not a role of the hub's account" in problems(parameters)


@pytest.mark.parametrize("value", ["*", "web,*"])
def test_a_spoke_that_opens_every_patch_group_is_refused(parameters: Path, value: str) -> None:
    edit(parameters / "spoke-dev.json", lambda values: values.update(AllowedPatchGroups=value))

    assert "spoke-dev.json: AllowedPatchGroups: '*' does not match" in problems(parameters)


@pytest.mark.parametrize("parameter", ["KeyAdministratorArns", "OrganizationId"])
def test_the_hub_cannot_leave_out_its_administrators_or_organisation(parameters: Path, parameter: str) -> None:
    edit(parameters / "hub-dev.json", lambda values: values.pop(parameter))

    assert f"hub-dev.json: {parameter}: required" in problems(parameters)


APPROVAL_POLICY_PROBLEMS = {
    "approval required but nobody may approve": (
        {"Approvers": ""},
        "hub-dev.json: Approvers: empty, but ApprovalRequiredWaves is 'after-first'",
    ),
    "a quorum larger than the approvers": (
        {"Approvers": "ops@example.com,OPS@example.com", "MinimumApprovers": "2"},
        "hub-dev.json: MinimumApprovers: 2, but Approvers names only 1 distinct addresses",
    ),
    "administrators without the stack's CloudFormation role": (
        {"ApprovalAdministratorArns": "arn:aws:iam::111111111111:role/admin"},
        "hub-dev.json: ApprovalAdministratorArns: does not include the CloudFormation role",
    ),
    "an administrator in another account": (
        {"ApprovalAdministratorArns": "arn:aws:iam::999999999999:role/admin"},
        "hub-dev.json: ApprovalAdministratorArns: 'arn:aws:iam::999999999999:role/admin' is not a role of the hub's",
    ),
}


@pytest.mark.parametrize(("change", "problem"), APPROVAL_POLICY_PROBLEMS.values(), ids=APPROVAL_POLICY_PROBLEMS.keys())
def test_an_approval_policy_that_could_never_be_met_is_refused(
    parameters: Path, change: dict[str, str], problem: str
) -> None:
    edit(parameters / "hub-dev.json", lambda values: values.update(change))

    assert problem in problems(parameters)


def test_check_run_applies_the_environments_approval_policy(parameters: Path, tmp_path: Path) -> None:
    run = tmp_path / "unattended.json"
    document = json.loads((ROOT / "examples" / "canary-then-fleet.json").read_text())
    document["waves"][1]["approval"] = {"required": False}
    run.write_text(json.dumps(document))

    refused = CliRunner().invoke(cli, ["check-run", "-e", "dev", "--parameters-dir", str(parameters), str(run)])
    edit(parameters / "hub-dev.json", lambda values: values.update(ApprovalRequiredWaves="run-document"))
    accepted = CliRunner().invoke(cli, ["check-run", "-e", "dev", "--parameters-dir", str(parameters), str(run)])

    assert refused.exit_code == 1
    assert "waves[1].approval.required: false, but the hub requires approval" in refused.output
    assert accepted.exit_code == 0, accepted.output
    assert "approval before no wave" in accepted.output


def test_key_administrators_without_the_cloudformation_role_are_refused(parameters: Path) -> None:
    only_people = "arn:aws:iam::111111111111:role/platform-key-admin"
    edit(parameters / "hub-dev.json", lambda values: values.update(KeyAdministratorArns=only_people))

    assert "hub-dev.json: KeyAdministratorArns: does not include the CloudFormation role" in problems(parameters)


def test_check_run_applies_the_environments_target_accounts(parameters: Path) -> None:
    edit(parameters / "hub-dev.json", lambda values: values.update(TargetAccountIds="999999999999"))

    refused = CliRunner().invoke(
        cli, ["check-run", "-e", "dev", "--parameters-dir", str(parameters), str(ROOT / "examples" / "scan-only.json")]
    )

    assert refused.exit_code == 1
    assert "is not among the accounts this hub may target (TargetAccountIds)" in refused.output
