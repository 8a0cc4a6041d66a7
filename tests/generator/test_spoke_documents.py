"""The spoke's patch wrapper: AWS-RunPatchBaseline behind enums, a UUID and the spoke's own override list."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from generator.parameter_files import constraint_problems
from handlers.contract import conventions, run_document
from rehearsal.template import generated_template, resolve

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "handlers" / "contract" / "run_document.schema.json").read_text())
OVERRIDES = ["s3://baselines-111111111111/linux-strict.json", "s3://baselines-111111111111/windows.json"]
NO_VALUE = object()


@pytest.fixture(scope="module")
def spoke() -> dict[str, Any]:
    return generated_template("spoke.json")


def patch_document(spoke: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """The wrapper's content as CloudFormation creates it with ``PatchBaselineOverrides`` set to ``overrides``."""
    names = {"NamePrefix": conventions.DEFAULT_NAME_PREFIX, "PatchBaselineOverrides": overrides or [""]}
    conditions = {"HasBaselineOverrides": bool(overrides)}
    content = resolve(
        spoke["Resources"]["PatchDocument"]["Properties"]["Content"],
        names | {"AWS::NoValue": NO_VALUE},
        conditions=conditions,
    )
    return dict(_without_no_value(content))


def _without_no_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_no_value(item) for key, item in value.items() if item is not NO_VALUE}
    if isinstance(value, list):
        return [_without_no_value(item) for item in value if item is not NO_VALUE]
    return value


def test_the_wrapper_has_the_name_the_hub_sends(spoke: dict[str, Any]) -> None:
    document = spoke["Resources"]["PatchDocument"]["Properties"]

    assert resolve(document["Name"], {"NamePrefix": conventions.DEFAULT_NAME_PREFIX}) == (
        conventions.patch_document_name()
    )
    assert document["DocumentType"] == "Command"
    assert document["Content"]["schemaVersion"] == "2.2"


@pytest.mark.parametrize("overrides", [[], OVERRIDES], ids=["no overrides", "two overrides"])
def test_every_parameter_is_an_enum_or_a_pattern(spoke: dict[str, Any], overrides: list[str]) -> None:
    parameters = patch_document(spoke, overrides)["parameters"]

    for name, spec in parameters.items():
        assert spec["type"] == "String", name  # no StringList, no StringMap: nothing structured to smuggle
        assert "allowedValues" in spec or "allowedPattern" in spec, name


def test_operation_and_reboot_option_are_the_run_documents_choices(spoke: dict[str, Any]) -> None:
    parameters = patch_document(spoke, [])["parameters"]

    assert sorted(parameters["Operation"]["allowedValues"]) == sorted(SCHEMA["properties"]["operation"]["enum"])
    assert sorted(parameters["RebootOption"]["allowedValues"]) == sorted(SCHEMA["properties"]["rebootOption"]["enum"])


def test_snapshot_id_takes_the_runs_uuid_and_nothing_else(spoke: dict[str, Any]) -> None:
    pattern = patch_document(spoke, [])["parameters"]["SnapshotId"]["allowedPattern"]

    assert re.fullmatch(pattern, run_document.snapshot_id("2026-12-02-web"))
    for refused in ("", "not-a-uuid", "00000000-0000-0000-0000-000000000000\n", "x" * 36, "$(reboot)"):
        assert not re.fullmatch(pattern, refused), refused


@pytest.mark.parametrize("overrides", [[], OVERRIDES], ids=["no overrides", "two overrides"])
def test_one_step_runs_aws_run_patch_baseline_with_the_wrappers_parameters_only(
    spoke: dict[str, Any], overrides: list[str]
) -> None:
    content = patch_document(spoke, overrides)
    (step,) = content["mainSteps"]
    inputs = step["inputs"]

    assert step["action"] == "aws:runDocument"
    assert inputs["documentType"] == "SSMDocument"
    assert inputs["documentPath"] == conventions.AWS_PATCH_DOCUMENT_NAME
    passed = inputs["documentParameters"]
    # Each inner parameter is exactly the wrapper's parameter of that name: no literal a caller could not choose,
    # and never InstallOverrideList.
    assert passed == {name: f"{{{{ {name} }}}}" for name in content["parameters"]}
    assert "InstallOverrideList" not in passed


def test_without_overrides_the_wrapper_offers_no_baseline_choice(spoke: dict[str, Any]) -> None:
    content = patch_document(spoke, [])

    assert "BaselineOverride" not in content["parameters"]
    assert "BaselineOverride" not in content["mainSteps"][0]["inputs"]["documentParameters"]


def test_a_baseline_override_is_one_the_spoke_lists_or_none(spoke: dict[str, Any]) -> None:
    choice = patch_document(spoke, OVERRIDES)["parameters"]["BaselineOverride"]

    assert choice["allowedValues"] == ["", *OVERRIDES]
    assert choice["default"] == ""


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com/baseline.json",
        "s3://bucket/baseline.yaml",
        "s3://bucket/$(id).json",
        "s3://bucket/it's.json",
        "s3://Bucket/baseline.json",
    ],
)
def test_the_override_list_takes_only_s3_json_files_aws_accepts(spoke: dict[str, Any], value: str) -> None:
    assert list(constraint_problems(value, spoke["Parameters"]["PatchBaselineOverrides"])), value


def test_the_override_list_is_optional(spoke: dict[str, Any]) -> None:
    spec = spoke["Parameters"]["PatchBaselineOverrides"]

    assert spec["Default"] == ""
    assert not list(constraint_problems(",".join(OVERRIDES), spec))
