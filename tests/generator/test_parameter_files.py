"""Parameter files are checked against the template they deploy; bad ones are refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.__main__ import cli
from generator.parameter_files import ParameterFileError, load

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted((ROOT / "parameters").glob("*.json"))
SPOKE = {
    "template-file-path": str(ROOT / "output" / "spoke.json"),
    "parameters": {"NamePrefix": "patch-orchestrator", "HubAccountId": "111111111111"},
    "tags": {"Environment": "dev"},
}


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "spoke-test.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def with_changes(**changes: Any) -> dict[str, Any]:
    document = json.loads(json.dumps(SPOKE))
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if key:
            document[section][key] = value
        else:
            document[section] = value
    return document


def test_the_repository_has_parameter_files_for_each_stack_and_environment() -> None:
    assert [path.name for path in COMMITTED] == ["hub-dev.json", "hub-prod.json", "spoke-dev.json", "spoke-prod.json"]


@pytest.mark.parametrize("path", COMMITTED, ids=lambda path: path.name)
def test_committed_parameter_files_are_valid(path: Path) -> None:
    loaded = load(path)
    assert loaded.template_path.parent == ROOT / "output"
    assert loaded.tags["Environment"] in path.name


def test_a_valid_file_loads(tmp_path: Path) -> None:
    assert load(write(tmp_path, SPOKE)).parameters["HubAccountId"] == "111111111111"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (with_changes(parameters__HubAccountId="12345"), "parameters.HubAccountId: '12345' does not match"),
        (with_changes(parameters__NamePrefix="Patch_Orchestrator"), "parameters.NamePrefix: 'Patch_Orchestrator'"),
        (with_changes(parameters__ExternalId="0123456789abcdef"), "parameters.ExternalId: NoEcho (secret)"),
        (with_changes(parameters__Unknown="x"), "parameters.Unknown: the template has no such parameter"),
        (with_changes(parameters__HubAccountId=111111111111), "parameters.HubAccountId: must be a string"),
        (with_changes(parameters={"NamePrefix": "patch-orchestrator"}), "parameters.HubAccountId: required"),
        (with_changes(tags__Environment=["dev"]), "tags.Environment: must be a string"),
        (with_changes(**{"tags__aws:reserved": "x"}), "tags.aws:reserved: not a valid tag key"),
        (with_changes(Parameters={}), "Parameters: unknown key"),
        (with_changes(**{"template-file-path": "missing.json"}), "template-file-path:"),
        ([1, 2], "the file must hold a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_parameter_files_are_refused_naming_the_field(tmp_path: Path, document: Any, field: str) -> None:
    with pytest.raises(ParameterFileError) as refused:
        load(write(tmp_path, document))
    assert field in str(refused.value)


def test_allowed_values_and_comma_lists_are_checked(tmp_path: Path) -> None:
    hub = {
        "template-file-path": str(ROOT / "output" / "hub.json"),
        "parameters": {"LogRetentionInDays": "42", "StateMachineLogLevel": "DEBUG"},
    }
    with pytest.raises(ParameterFileError) as refused:
        load(write(tmp_path, hub))
    assert "parameters.LogRetentionInDays: '42' is not one of" in str(refused.value)
    assert "parameters.StateMachineLogLevel: 'DEBUG' is not one of" in str(refused.value)


def test_validate_command_checks_every_committed_file() -> None:
    result = CliRunner().invoke(cli, ["validate", *map(str, COMMITTED)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok (") == len(COMMITTED)


def test_validate_command_fails_and_names_the_field(tmp_path: Path) -> None:
    bad = write(tmp_path, with_changes(parameters__HubAccountId="not-an-account"))
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "parameters.HubAccountId: 'not-an-account' does not match" in result.output
    assert "1 of 1 parameter files refused" in result.output
