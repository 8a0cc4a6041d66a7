"""``python -m generator definition ENV``: the definition AWS's validator is given is the one the hub will run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.__main__ import cli
from generator.definition import DefinitionError, deployed_definition, partition
from rehearsal.template import generated_template
from tests.support import validators

ROOT = Path(__file__).resolve().parents[2]


def written_definition(tmp_path: Path, environment: str = "dev") -> dict[str, Any]:
    output = tmp_path / "definition.json"
    result = CliRunner().invoke(
        cli, ["definition", environment, "--parameters-dir", str(ROOT / "parameters"), "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    loaded: dict[str, Any] = json.loads(output.read_text())
    return loaded


def lambda_targets(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["FunctionName"]] if isinstance(value.get("FunctionName"), str) else []
        return found + [name for item in value.values() for name in lambda_targets(item)]
    if isinstance(value, list):
        return [name for item in value for name in lambda_targets(item)]
    return []


def test_every_substitution_is_the_environments_deployed_value(tmp_path: Path) -> None:
    definition = written_definition(tmp_path)
    text = json.dumps(definition)

    assert "${" not in text
    assert "Fn::" not in text
    targets = lambda_targets(definition)
    assert len(set(targets)) == 9  # every function the workflow invokes
    for target in targets:
        assert target.startswith("arn:aws:lambda:eu-west-1:111111111111:function:patch-orchestrator-dev-"), target
    assert '"TableName": "patch-orchestrator-dev-runs"' in text
    assert '"Resource": "arn:aws:states:::lambda:invoke"' in text


def test_the_prod_definition_names_prods_functions(tmp_path: Path) -> None:
    targets = lambda_targets(written_definition(tmp_path, "prod"))

    assert targets
    for target in targets:
        assert target.startswith("arn:aws:lambda:eu-west-1:111111111111:function:patch-orchestrator-"), target
        assert "patch-orchestrator-dev-" not in target


def test_awss_offline_validators_accept_the_written_definition(tmp_path: Path) -> None:
    written_definition(tmp_path)

    assert validators.asl_findings(tmp_path / "definition.json") == []


@pytest.mark.parametrize(
    ("region", "expected"), [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_the_partition_follows_the_region(region: str, expected: str) -> None:
    assert partition(region) == expected


def test_a_substitution_of_a_new_kind_is_refused_not_guessed() -> None:
    template = generated_template("hub.json")
    substitutions = template["Resources"]["PatchRunStateMachine"]["Properties"]["DefinitionSubstitutions"]
    substitutions["RunTableName"] = {"Fn::ImportValue": "elsewhere"}

    with pytest.raises(DefinitionError, match="cannot resolve the substitution"):
        deployed_definition(template, name_prefix="patch-orchestrator", account="111111111111", region="eu-west-1")


def test_a_refused_environment_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "definition.json"

    result = CliRunner().invoke(
        cli, ["definition", "nosuch", "--parameters-dir", str(ROOT / "parameters"), "--output", str(output)]
    )

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "Error: environment 'nosuch' refused" in result.output
    assert not output.exists()
