"""Properties every generated template must have: lint clean, StackSet-portable, stateful resources retained."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from generator.build import artifacts

TEMPLATES = ["hub.json", "spoke.json", "deploy-role.json"]
STATEFUL_TYPES = {"AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::S3::Bucket", "AWS::Logs::LogGroup"}
REGION_NAME = re.compile(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx)-(?:gov-)?[a-z]+-\d\b")
ACCOUNT_ID = re.compile(r"(?<![\d.])\d{12}(?![\d.])")


def template_text(name: str) -> str:
    (content,) = [artifact.content for artifact in artifacts() if artifact.name == name]
    return content


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.mark.parametrize("name", TEMPLATES)
def test_cfn_lint_reports_nothing_at_any_level(name: str) -> None:
    matches = lint(template_text(name), config=ManualArgs(include_checks=["I"], regions=["us-east-1", "eu-west-1"]))
    assert not matches, "\n".join(f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches)


@pytest.mark.parametrize("name", TEMPLATES)
def test_nothing_is_hard_coded_to_a_partition_account_or_region(name: str) -> None:
    template = json.loads(template_text(name))
    for text in strings(template["Resources"]):
        assert "arn:aws:" not in text, text
        assert not ACCOUNT_ID.search(text), text
        assert not REGION_NAME.search(text), text


@pytest.mark.parametrize("name", TEMPLATES)
def test_stateful_resources_are_retained_on_delete_and_replacement(name: str) -> None:
    template = json.loads(template_text(name))
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in STATEFUL_TYPES:
            # Retained, except when the first create fails: a retry must not collide with what that left behind.
            assert resource.get("DeletionPolicy") == "RetainExceptOnCreate", logical_id
            assert resource.get("UpdateReplacePolicy") == "Retain", logical_id


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_parameter_is_described(name: str) -> None:
    template = json.loads(template_text(name))
    for parameter_name, spec in template["Parameters"].items():
        assert spec.get("Description"), parameter_name


def test_hard_coding_detector_catches_a_planted_arn() -> None:
    planted = {"Resources": {"X": {"Properties": {"Arn": "arn:aws:iam::123456789012:role/eu-west-1"}}}}
    found = list(strings(planted["Resources"]))
    assert any("arn:aws:" in text for text in found)
    assert any(ACCOUNT_ID.search(text) for text in found)
    assert any(REGION_NAME.search(text) for text in found)
