"""The GitHub Actions workflows (.github/workflows/): linted by actionlint and audited by zizmor at zero findings,
third-party actions pinned by commit, least privilege per job, and only commands the CLI has."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.__main__ import cli
from tests.support import validators

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # v\d+\.\d+\.\d+$")
GENERATOR_COMMAND = re.compile(r"python -m generator ([a-z-]+)")


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as true.
    if True in document:
        document["on"] = document.pop(True)
    return document


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load(path)["jobs"]
    return found


def steps(path: Path) -> list[dict[str, Any]]:
    return [step for job in jobs(path).values() for step in job.get("steps", [])]


def uses_lines(path: Path) -> list[str]:
    """Every ``uses:`` value with its trailing comment, as written (YAML drops comments)."""
    return [
        line.split("uses:", 1)[1].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
    ]


def zizmor(*inputs: Path) -> list[dict[str, Any]]:
    executable = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    assert executable, "zizmor is in the test extra: pip install -e '.[test]'"
    result = subprocess.run(
        [executable, "--offline", "--no-config", "--format", "json", *map(str, inputs)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.strip(), result.stderr
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


def test_there_are_the_check_deploy_and_release_workflows() -> None:
    assert {path.name for path in WORKFLOW_FILES} == {
        "checks.yml",
        "deploy.yml",
        "deploy-environment.yml",
        "release.yml",
    }


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_actionlint_finds_nothing(path: Path) -> None:
    assert validators.actionlint_findings(path) == []


def test_actionlint_catches_an_unknown_expression(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = (WORKFLOWS / "deploy-environment.yml").read_text().replace("inputs.environment }}", "inputs.enviroment }}")
    broken.write_text(text)

    assert any("enviroment" in finding for finding in validators.actionlint_findings(broken))


def test_zizmor_finds_nothing() -> None:
    assert zizmor(WORKFLOWS) == []


def test_zizmor_catches_an_unpinned_action(tmp_path: Path) -> None:
    unpinned = tmp_path / ".github" / "workflows" / "checks.yml"
    unpinned.parent.mkdir(parents=True)
    text = (WORKFLOWS / "checks.yml").read_text()
    unpinned.write_text(re.sub(r"actions/checkout@\S+ # \S+", "actions/checkout@v4", text))

    assert {finding["ident"] for finding in zizmor(unpinned)} == {"unpinned-uses"}


def test_every_third_party_action_is_pinned_to_a_commit_with_its_version() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOW_FILES:
        for value in uses_lines(path):
            if value.startswith("./"):
                continue  # this repository's own reusable workflow
            match = PINNED.match(value)
            assert match, f"{path.name}: {value!r} is not pinned as owner/repo@<40-hex sha> # vX.Y.Z"
            pins.setdefault(match["action"], set()).add(value)
    assert set(pins) == {"actions/checkout", "actions/setup-python", "aws-actions/configure-aws-credentials"}
    # One version of each action everywhere: an upgrade changes every workflow at once.
    assert all(len(values) == 1 for values in pins.values()), pins


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_no_permission_by_default_and_only_what_each_job_needs(path: Path) -> None:
    assert load(path)["permissions"] == {}
    for name, job in jobs(path).items():
        permissions = job["permissions"]
        if permissions.get("id-token") == "write":
            # Only the deploy jobs get OIDC tokens, and they read nothing but the repository.
            assert path.name in ("deploy.yml", "deploy-environment.yml"), name
            assert permissions == {"contents": "read", "id-token": "write"}
        elif path.name == "release.yml":
            assert permissions == {"contents": "write"}
        else:
            assert permissions == {"contents": "read"}


def test_checkout_never_leaves_the_token_in_the_repository() -> None:
    checkouts = [
        step for path in WORKFLOW_FILES for step in steps(path) if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert len(checkouts) == 3
    assert all(step["with"]["persist-credentials"] is False for step in checkouts)


def test_one_deploy_per_environment_at_a_time_and_never_cancelled() -> None:
    (job,) = jobs(WORKFLOWS / "deploy-environment.yml").values()

    assert job["environment"] == "${{ inputs.environment }}"
    assert job["concurrency"] == {"group": "deploy-${{ inputs.environment }}", "cancel-in-progress": False}
    trigger = load(WORKFLOWS / "deploy-environment.yml")["on"]
    assert set(trigger) == {"workflow_call"}
    assert set(trigger["workflow_call"]["inputs"]) == {"environment", "only"}


def test_dev_deploys_on_push_to_main_and_prod_after_it_or_by_hand() -> None:
    workflow = load(WORKFLOWS / "deploy.yml")
    assert workflow["on"]["push"] == {"branches": ["main"]}
    assert workflow["on"]["workflow_dispatch"]["inputs"]["environment"]["options"] == ["dev", "prod"]
    dev, prod = workflow["jobs"]["dev"], workflow["jobs"]["prod"]
    for job, environment in ((dev, "dev"), (prod, "prod")):
        assert job["uses"] == "./.github/workflows/deploy-environment.yml"
        assert job["with"]["environment"] == environment
    assert prod["needs"] == "dev"
    assert "needs.dev.result == 'success'" in prod["if"]


def test_aws_validates_the_definition_before_the_only_deploy_step() -> None:
    runs = [step.get("run", "") for step in steps(WORKFLOWS / "deploy-environment.yml")]
    validation = [i for i, run in enumerate(runs) if "aws stepfunctions validate-state-machine-definition" in run]
    deploys = [i for i, run in enumerate(runs) if "python -m generator deploy" in run]

    assert len(validation) == 1
    assert len(deploys) == 1
    assert validation[0] < deploys[0]
    assert "--definition file://build/definition.json" in runs[validation[0]]
    assert "--type STANDARD" in runs[validation[0]]
    assert "= OK" in runs[validation[0]]  # ERROR diagnostics make the result FAIL, which fails the step
    # The definition validated is the one the definition command writes, before the credentials step.
    assert any(
        'generator definition "$ENVIRONMENT" --output build/definition.json' in run for run in runs[: validation[0]]
    )
    # No other deploy logic: nothing else touches CloudFormation or S3.
    assert not [run for run in runs if re.search(r"aws (cloudformation|s3)", run)]


def test_the_credentials_come_from_the_environments_deploy_role() -> None:
    (credentials,) = [
        step
        for step in steps(WORKFLOWS / "deploy-environment.yml")
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert credentials["with"]["aws-region"] == "${{ vars.AWS_REGION }}"
    assert "aws-access-key-id" not in credentials["with"]


def test_a_release_attaches_the_package_and_templates_with_the_template_changes() -> None:
    (job,) = jobs(WORKFLOWS / "release.yml").values()
    runs = "\n".join(step.get("run", "") for step in job["steps"])

    assert load(WORKFLOWS / "release.yml")["on"] == {"push": {"tags": ["v*"]}}
    assert "python -m generator package --output dist/handlers.zip" in runs
    assert 'git diff --stat "$previous..$TAG" -- output/' in runs
    assert "gh release create" in runs
    for asset in ("dist/handlers.zip", "output/hub.json", "output/spoke.json", "output/deploy-role.json"):
        assert asset in runs
    assert not [step for step in job["steps"] if "release" in step.get("uses", "")]  # no third-party release action


def test_the_workflows_run_only_commands_the_cli_has_and_the_docs_show() -> None:
    commands = {
        command
        for path in WORKFLOW_FILES
        for step in steps(path)
        for command in GENERATOR_COMMAND.findall(step.get("run", ""))
    }
    assert commands == {"build", "validate", "definition", "deploy", "package"}
    assert commands <= set(cli.commands)
    documented = set(GENERATOR_COMMAND.findall((ROOT / "docs" / "deploying.md").read_text()))
    assert commands - {"build"} <= documented
    assert "aws stepfunctions validate-state-machine-definition" in (ROOT / "docs" / "deploying.md").read_text()
