"""Check deployment parameter files (``parameters/<stack>-<env>.json``) against the generated templates.

A file has the shape cfn-lint's ``--deployment-files`` reads::

    {"template-file-path": "../output/hub.json", "parameters": {"NamePrefix": "patch-orchestrator"}, "tags": {}}

Refused, with the field named: unknown keys, unknown parameters, values the template's constraints reject, a
missing parameter that has no default (except those the pipeline supplies, ``SUPPLIED_AT_DEPLOY``), and any
``NoEcho`` parameter (secrets are supplied at deploy time from
the pipeline's secret store, never committed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_KEYS = {"template-file-path", "parameters", "tags"}
# Filled by the deploy pipeline, so a file may leave them out: the handler package key changes with every
# code change (``python -m generator package`` prints it).
SUPPLIED_AT_DEPLOY = {"CodeKey"}
TAG_KEY = re.compile(r"^[\w.:/=+@ -]{1,128}$")


@dataclass(frozen=True)
class ParameterFile:
    """A parsed parameter file and the template it deploys."""

    path: Path
    template_path: Path
    parameters: dict[str, str]
    tags: dict[str, str]


class ParameterFileError(ValueError):
    """A parameter file that must not be deployed; the message lists every problem with its field."""


def load(path: Path) -> ParameterFile:
    """Parse and check ``path`` against the template it names; raise ``ParameterFileError`` on any problem."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ParameterFileError(f"{path}: not valid JSON: {error}") from None
    problems = list(_shape_problems(document))
    if problems:
        raise ParameterFileError(_report(path, problems))
    template_path = (path.parent / document["template-file-path"]).resolve()
    if not template_path.is_file():
        raise ParameterFileError(_report(path, [f"template-file-path: {template_path} does not exist"]))
    template = json.loads(template_path.read_text(encoding="utf-8"))
    problems = list(_value_problems(document["parameters"], template.get("Parameters", {})))
    if problems:
        raise ParameterFileError(_report(path, problems))
    return ParameterFile(path, template_path, dict(document["parameters"]), dict(document.get("tags", {})))


def _report(path: Path, problems: list[str]) -> str:
    return f"{path}:\n  " + "\n  ".join(problems)


def _shape_problems(document: Any) -> Iterator[str]:
    if not isinstance(document, dict):
        yield "the file must hold a JSON object"
        return
    for key in sorted(set(document) - FILE_KEYS):
        yield f"{key}: unknown key (expected {', '.join(sorted(FILE_KEYS))})"
    if not isinstance(document.get("template-file-path"), str):
        yield "template-file-path: required, a path relative to this file"
    parameters = document.get("parameters")
    if not isinstance(parameters, dict):
        yield "parameters: required, an object of parameter name to string value"
    else:
        for name, value in parameters.items():
            if not isinstance(value, str):
                yield f"parameters.{name}: must be a string (CloudFormation parameter values are strings)"
    tags = document.get("tags", {})
    if not isinstance(tags, dict):
        yield "tags: must be an object of tag key to string value"
    else:
        for key, value in tags.items():
            if not TAG_KEY.match(key) or key.lower().startswith("aws:"):
                yield f"tags.{key}: not a valid tag key"
            if not isinstance(value, str) or len(value) > 256:
                yield f"tags.{key}: must be a string of at most 256 characters"


def _value_problems(values: Mapping[str, str], declared: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    for name in sorted(set(values) - set(declared)):
        yield f"parameters.{name}: the template has no such parameter"
    for name, spec in sorted(declared.items()):
        field = f"parameters.{name}"
        if spec.get("NoEcho"):
            if name in values:
                yield f"{field}: NoEcho (secret) parameters are supplied at deploy time, never committed"
            continue
        if name not in values:
            if "Default" not in spec and name not in SUPPLIED_AT_DEPLOY:
                yield f"{field}: required (the template gives no default)"
            continue
        yield from (f"{field}: {problem}" for problem in _constraint_problems(values[name], spec))


def _constraint_problems(value: str, spec: Mapping[str, Any]) -> Iterator[str]:
    kind = spec.get("Type", "String")
    items = [item.strip() for item in value.split(",")] if kind == "CommaDelimitedList" else [value]
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(choice) for choice in allowed]:
        yield f"{value!r} is not one of {', '.join(str(choice) for choice in allowed)}"
    pattern = spec.get("AllowedPattern")
    for item in items:
        if pattern is not None and not re.fullmatch(pattern, item):
            yield f"{item!r} does not match {pattern} ({spec.get('ConstraintDescription', 'see the template')})"
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        yield f"shorter than {spec['MinLength']} characters"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        yield f"longer than {spec['MaxLength']} characters"
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            yield f"{value!r} is not a number"
            return
        if "MinValue" in spec and number < float(spec["MinValue"]):
            yield f"below the minimum {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            yield f"above the maximum {spec['MaxValue']}"
