"""Resolve the CloudFormation values inside a generated template offline, as a deployment would."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator.build import artifacts

PSEUDO_PARAMETERS = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}
_REFERENCE = re.compile(r"\$\{([^}!]+)\}")


def generated_template(name: str) -> dict[str, Any]:
    """A freshly generated template (``hub.json``/``spoke.json``) as a dict."""
    (content,) = [artifact.content for artifact in artifacts() if artifact.name == name]
    return json.loads(content)


def committed_template(root: Path, name: str) -> dict[str, Any]:
    return json.loads((root / "output" / name).read_text(encoding="utf-8"))


def resolve(value: Any, names: Mapping[str, Any]) -> Any:
    """Replace ``Fn::Sub`` (both forms) and ``Ref`` whose names are all in ``names`` (pseudo parameters included).

    Raises KeyError for an unknown name so a test never runs a half-resolved definition.
    """
    lookup = {**PSEUDO_PARAMETERS, **names}
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"}:
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            local = {name: resolve(item, names) for name, item in variables.items()}
            return _substitute(text, {**lookup, **local})
        if set(value) == {"Ref"}:
            return lookup[value["Ref"]]
        return {key: resolve(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, names) for item in value]
    return value


def resolve_definition(template: Mapping[str, Any], logical_id: str, bindings: Mapping[str, str]) -> dict[str, Any]:
    """The state machine's ``Definition`` with its ``DefinitionSubstitutions`` bound to ``bindings``.

    ``bindings`` maps each substitution key to the physical value it has in the test account, and must
    cover every key the template declares.
    """
    properties = template["Resources"][logical_id]["Properties"]
    declared = set(properties.get("DefinitionSubstitutions", {}))
    if declared != set(bindings):
        raise AssertionError(f"bindings {sorted(bindings)} do not match substitutions {sorted(declared)}")
    definition = resolve(properties["Definition"], {})
    text = json.dumps(definition)
    for key, physical in bindings.items():
        text = text.replace("${" + key + "}", physical)
    return json.loads(text)


def _substitute(text: str, lookup: Mapping[str, Any]) -> str:
    return _REFERENCE.sub(lambda match: str(lookup[match.group(1)]), text).replace("${!", "${")
