"""AWS's own ASL validators (offline: the Toolkit's language service and asl-validator) accept the generated
definition and catch what cfn-lint's state machine check misses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rehearsal.template import generated_template, resolve_definition
from tests.support import validators

FAKE_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:{}"


def generated_definition() -> dict[str, Any]:
    """The state machine's definition as CloudFormation hands it to Step Functions (substitutions resolved)."""
    template = generated_template("hub.json")
    substitutions = template["Resources"]["PatchRunStateMachine"]["Properties"]["DefinitionSubstitutions"]
    bindings = {
        key: FAKE_ARN.format(key) if key.endswith("Arn") else "patch-orchestrator-runs" for key in substitutions
    }
    return resolve_definition(template, "PatchRunStateMachine", bindings)


def written(tmp_path: Path, definition: Any, name: str = "definition.json") -> Path:
    path = tmp_path / name
    path.write_text(definition if isinstance(definition, str) else json.dumps(definition, indent=2))
    return path


def accounts_map(definition: dict[str, Any]) -> dict[str, Any]:
    waves = definition["States"]["Waves"]["ItemProcessor"]["States"]
    state: dict[str, Any] = waves["TargetGroups"]["ItemProcessor"]["States"]["Accounts"]
    return state


def test_both_validators_accept_the_generated_definition(tmp_path: Path) -> None:
    assert validators.asl_findings(written(tmp_path, generated_definition())) == []


def test_a_bad_processor_mode_is_caught(tmp_path: Path) -> None:
    definition = generated_definition()
    accounts_map(definition)["ItemProcessor"]["ProcessorConfig"]["Mode"] = "BOGUS"

    found = validators.asl_findings(written(tmp_path, definition))

    assert {finding["validator"] for finding in found} == {"amazon-states-language-service", "asl-validator"}
    assert any('"DISTRIBUTED", "INLINE"' in finding["message"] for finding in found)


def test_a_next_to_a_missing_state_is_caught(tmp_path: Path) -> None:
    definition = generated_definition()
    definition["States"]["ValidateRun"]["Next"] = "NoSuchState"

    found = validators.asl_findings(written(tmp_path, definition))

    assert any(finding["validator"] == "asl-validator" and "NoSuchState" in finding["message"] for finding in found)
    assert any(finding["validator"] == "amazon-states-language-service" for finding in found)


def test_a_float_tolerance_is_refused_as_aws_refuses_it(tmp_path: Path) -> None:
    text = json.dumps(generated_definition(), indent=2).replace(
        '"ToleratedFailurePercentage": 100', '"ToleratedFailurePercentage": 100.0'
    )

    found = validators.asl_findings(written(tmp_path, text))

    assert [finding["validator"] for finding in found] == ["amazon-states-language-service"]
    assert "integer" in found[0]["message"]


@pytest.mark.parametrize("name", ["ValidateRun", "Finalize"])
def test_a_lambda_task_without_a_resource_is_caught(tmp_path: Path, name: str) -> None:
    definition = generated_definition()
    del definition["States"][name]["Resource"]

    assert validators.asl_findings(written(tmp_path, definition))
