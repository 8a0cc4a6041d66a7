"""docs/deploying.md: every command it shows exists and parses; those that need no AWS run."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name
from click.testing import CliRunner

from generator.__main__ import cli

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "deploying.md"
# Options of the AWS CLI itself, not of an operation.
GLOBAL_OPTIONS = {"region", "query", "output", "profile"}
# AWS CLI commands that are the CLI's own (no API operation of that name), with the options they take.
CLI_COMMANDS = {
    ("cloudformation", "deploy"): {
        "stack-name",
        "template-file",
        "capabilities",
        "parameter-overrides",
        "s3-bucket",
        "no-fail-on-empty-changeset",
    }
}
# Where the AWS CLI names an operation's member differently.
CLI_RENAMES = {("sns", "subscribe", "notification-endpoint"): "Endpoint"}
# Generator commands the suite runs as shown; the others (deploy) need AWS and are only parsed.
RUNS_OFFLINE = {"build", "validate", "definition", "check-run"}


def commands(prefix: str) -> list[list[str]]:
    """The shell commands of the page's bash blocks that start with ``prefix`` (after any ``.venv/bin/``)."""
    blocks = re.findall(r"```bash\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.DOTALL)
    found = []
    for block in blocks:
        for line in block.splitlines():
            for command in line.split("&&"):
                words = shlex.split(command.strip())
                if words and words[0].removeprefix(".venv/bin/") == prefix:
                    found.append(words)
    return found


def generator_commands() -> list[list[str]]:
    return [words[3:] for words in commands("python") if words[1:3] == ["-m", "generator"]]


def test_the_page_shows_every_step_from_organisation_to_canary_run() -> None:
    shown = {tuple(words[:3]) for words in commands("aws")}
    assert ("aws", "cloudformation", "activate-organizations-access") in shown
    assert ("aws", "organizations", "register-delegated-administrator") in shown
    assert ("aws", "cloudformation", "deploy") in shown  # the deploy-role stack
    assert ("aws", "stepfunctions", "validate-state-machine-definition") in shown
    assert {words[0] for words in generator_commands()} == {"build", "validate", "definition", "deploy", "check-run"}
    assert [words for words in commands("python") if words[1].endswith("scripts/start_run.py")]
    assert "gh variable set AWS_DEPLOY_ROLE_ARN --env prod" in PAGE.read_text()
    assert "Required reviewers" in PAGE.read_text()


@pytest.mark.parametrize("words", generator_commands(), ids=" ".join)
def test_each_generator_command_shown_parses_and_runs_offline_where_it_can(
    words: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    if "--output" in words:  # write into the test's directory, not the repository
        words = [
            *words[: words.index("--output") + 1],
            str(tmp_path / "out.json"),
            *words[words.index("--output") + 2 :],
        ]
    arguments = words if words[0] in RUNS_OFFLINE else [*words, "--help"]

    result = CliRunner().invoke(cli, arguments)

    assert result.exit_code == 0, result.output


def test_the_start_run_helper_takes_the_options_shown() -> None:
    (words,) = [words for words in commands("python") if words[1].endswith("scripts/start_run.py")]
    helped = subprocess.run(
        [sys.executable, "scripts/start_run.py", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert (ROOT / words[2]).is_file()
    for option in (word for word in words[3:] if word.startswith("--")):
        assert option in helped, option


@pytest.mark.parametrize("words", commands("aws"), ids=lambda words: " ".join(words[1:3]))
def test_each_aws_command_shown_is_an_operation_with_those_options(words: list[str]) -> None:
    service, command = words[1], words[2]
    given = {word[2:] for word in words[3:] if word.startswith("--")} - GLOBAL_OPTIONS
    if (service, command) in CLI_COMMANDS:
        assert given <= CLI_COMMANDS[service, command]
        return
    model = botocore.session.get_session().get_service_model(service)
    (operation,) = [name for name in model.operation_names if xform_name(name, "-") == command]
    shape = model.operation_model(operation).input_shape
    members = {xform_name(name, "-"): name for name in (shape.members if shape else {})}
    named = {CLI_RENAMES.get((service, command, option)) or members.get(option) for option in given}
    assert None not in named, f"aws {service} {command}: unknown option among {sorted(given)}"
    assert set(shape.required_members if shape else []) <= named


def test_the_operation_check_catches_a_misspelt_option() -> None:
    model = botocore.session.get_session().get_service_model("stepfunctions")
    shape = model.operation_model("ValidateStateMachineDefinition").input_shape
    assert "defintion" not in {xform_name(name, "-") for name in shape.members}
    assert "definition" in {xform_name(name, "-") for name in shape.members}
