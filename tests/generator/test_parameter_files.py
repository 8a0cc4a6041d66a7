"""Parameter files are CloudFormation's own format, checked strictly against the template they deploy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.build import templates
from generator.parameter_files import ParameterFileError, load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = templates()
SPOKE = {
    "NamePrefix": "patch-orchestrator",
    "HubAccountId": "111111111111",
    "HubRegion": "eu-west-1",
    "AllowedPatchGroups": "web,db",
}
HUB = json.loads((ROOT / "parameters" / "hub-dev.json").read_text())
X86_LAYER = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:27"
FOREIGN_LAYER = "arn:aws:lambda:eu-west-1:123456789012:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"


def entries(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def hub_with(**changes: Any) -> list[dict[str, Any]]:
    values = {entry["ParameterKey"]: entry["ParameterValue"] for entry in HUB}
    return entries({**values, **changes})


def spoke_with(**changes: Any) -> list[dict[str, Any]]:
    return entries({key: value for key, value in {**SPOKE, **changes}.items() if value is not None})


def write(tmp_path: Path, content: Any, name: str = "spoke-test.json") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    stack = path.name.split("-")[0]
    with pytest.raises(ParameterFileError) as refused:
        load(path, TEMPLATES.get(stack, TEMPLATES["spoke"]))
    problems = refused.value.problems
    assert problems
    assert all(problem.startswith(f"{path}: ") and "\n" not in problem for problem in problems), problems
    return "\n".join(problems)


def test_a_valid_file_loads_in_order_and_renders_back_to_cloudformation(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, spoke_with()), TEMPLATES["spoke"])

    assert (loaded.stack, loaded.environment) == ("spoke", "test")
    assert loaded.parameters["HubAccountId"] == "111111111111"
    assert loaded.as_cloudformation() == spoke_with()


def test_a_default_is_read_from_the_template_when_the_file_leaves_it_out(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, spoke_with(NamePrefix=None)), TEMPLATES["spoke"])

    assert loaded.value("NamePrefix", TEMPLATES["spoke"]) == "patch-orchestrator"
    assert loaded.value("HubArtifactBucketName", TEMPLATES["spoke"]) == ""


MALFORMED = {
    "not JSON": ("{not json", "not valid JSON"),
    "empty file": ("", "not valid JSON"),
    "binary content": (b"\x00\xff\xfe\x10PK\x03\x04", "not UTF-8 text"),
    "Latin-1 text": ('[{"ParameterKey": "NamePrefix", "ParameterValue": "caf\xe9"}]'.encode("latin-1"), "not UTF-8"),
    "byte order mark": ("\ufeff" + json.dumps(spoke_with()), "not valid JSON"),
    "duplicate JSON key": (
        '[{"ParameterKey": "HubAccountId", "ParameterKey": "NamePrefix", "ParameterValue": "x"}]',
        "ParameterKey: given twice (JSON keys must be unique)",
    ),
    "NaN literal": ('[{"ParameterKey": "HubAccountId", "ParameterValue": NaN}]', "NaN is not a JSON number"),
    "deployment-file object": ({"parameters": SPOKE}, "must be a JSON list of parameters"),
    "Key=Value strings": (["HubAccountId=111111111111"], "[0]: each entry is exactly"),
    "entry without a value": ([{"ParameterKey": "HubAccountId"}], "[0]: each entry is exactly"),
    "UsePreviousValue": (
        [{"ParameterKey": "HubAccountId", "ParameterValue": "1", "UsePreviousValue": True}],
        "[0]: each entry is exactly",
    ),
    "value that is a number": (spoke_with(HubAccountId=111111111111), "HubAccountId: must be a string"),
    "parameter given twice": ([*spoke_with(), *entries({"NamePrefix": "other"})], "NamePrefix: given twice"),
    "unknown parameter": (spoke_with(Unknown="x"), "Unknown: the template has no such parameter"),
    "committed secret": (spoke_with(ExternalId="0123456789abcdef"), "ExternalId: a secret (NoEcho)"),
    "required parameter missing": (spoke_with(HubAccountId=None), "HubAccountId: required"),
    "short account id": (spoke_with(HubAccountId="12345"), "HubAccountId: '12345' does not match"),
    "prefix with capitals": (spoke_with(NamePrefix="Patch_Orchestrator"), "NamePrefix: 'Patch_Orchestrator'"),
    "prefix starting with aws": (spoke_with(NamePrefix="aws-patching"), "NamePrefix: 'aws-patching' does not match"),
    "prefix starting with amzn": (spoke_with(NamePrefix="amzn-patching"), "NamePrefix: 'amzn-patching'"),
    "value over 4 KB": (spoke_with(AllowedPatchGroups="w" * 5000), "AllowedPatchGroups: 5000 bytes"),
    "file over 256 KB": (spoke_with(AllowedPatchGroups="w" * 300_000), "a file holds at most 262144"),
    "empty list": (spoke_with(AllowedPatchGroups=""), "AllowedPatchGroups: '': a comma-separated list"),
    "list with blanks": (spoke_with(AllowedPatchGroups="web, db ,,"), "AllowedPatchGroups: 'web, db ,,'"),
}
HUB_MALFORMED = {
    "NaN concurrency": (hub_with(FleetFunctionConcurrency="NaN"), "FleetFunctionConcurrency: 'NaN' is not a whole"),
    "fractional concurrency": (hub_with(FleetFunctionConcurrency="5.5"), "'5.5' is not a whole number"),
    "concurrency of zero": (hub_with(FleetFunctionConcurrency="0"), "FleetFunctionConcurrency: 0 is below"),
    "concurrency too large": (hub_with(ControlFunctionConcurrency="5000"), "5000 is above the maximum 100"),
    "x86 layer": (hub_with(PowertoolsLayerArn=X86_LAYER), "PowertoolsLayerArn: 'arn:aws:lambda:eu-west-1:"),
    "layer of another account": (hub_with(PowertoolsLayerArn=FOREIGN_LAYER), "PowertoolsLayerArn:"),
    "retention CloudWatch refuses": (hub_with(LogRetentionInDays="42"), "LogRetentionInDays: '42' is not one of"),
    "log level": (hub_with(StateMachineLogLevel="DEBUG"), "StateMachineLogLevel: 'DEBUG' is not one of"),
    "code key committed wrongly": (hub_with(CodeKey="handlers/latest.zip"), "CodeKey: 'handlers/latest.zip'"),
}


@pytest.mark.parametrize(("content", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_spoke_file_is_refused_in_one_line_naming_the_field(
    tmp_path: Path, content: Any, expected: str
) -> None:
    assert expected in refusal(write(tmp_path, content))


@pytest.mark.parametrize(("content", "expected"), HUB_MALFORMED.values(), ids=HUB_MALFORMED.keys())
def test_a_malformed_hub_file_is_refused_in_one_line_naming_the_field(
    tmp_path: Path, content: Any, expected: str
) -> None:
    assert expected in refusal(write(tmp_path, content, name="hub-test.json"))


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = refusal(write(tmp_path, spoke_with(HubAccountId="1", NamePrefix="AWS", Unknown="x")))

    assert "HubAccountId:" in text
    assert "NamePrefix:" in text
    assert "Unknown:" in text


def test_a_file_name_that_names_no_stack_and_environment_is_refused(tmp_path: Path) -> None:
    assert "the name must be <stack>-<environment>.json" in refusal(write(tmp_path, spoke_with(), "spoke.json"))


def test_the_handler_code_key_may_be_left_to_the_deploy(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, HUB, name="hub-test.json"), TEMPLATES["hub"])

    assert "CodeKey" not in loaded.parameters
