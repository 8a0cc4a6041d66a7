"""Deployment parameter files, ``parameters/<stack>-<environment>.json``, in CloudFormation's own format::

    [{"ParameterKey": "NamePrefix", "ParameterValue": "patch-orchestrator-dev"}, ...]

Every CloudFormation tool reads this shape as it is: ``aws cloudformation create-stack | update-stack |
create-change-set --parameters file://...``, ``create-stack-set | update-stack-set --parameters file://...``,
``aws cloudformation deploy --parameter-overrides file://...`` (AWS CLI v2), ``cfn-lint --parameter-files``, and
``python -m generator deploy``. The stack is in the file name: ``hub-dev.json`` deploys ``output/hub.json``.

Each file is checked against the template it deploys, strictly: the JSON itself (duplicate keys, non-finite
numbers, encoding), each value against the parameter's type and constraints and CloudFormation's 4 KB value
limit, required parameters, and secrets (``NoEcho`` parameters are supplied at deploy time, never committed).
Every problem is one line naming the file and the parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# CloudFormation refuses a parameter value over 4,096 bytes.
MAX_VALUE_BYTES = 4096
MAX_FILE_BYTES = 256 * 1024
ENTRY_KEYS = ("ParameterKey", "ParameterValue")
# Filled by the deploy command, so a file may leave them out: the handler package key changes with every code
# change (``python -m generator package`` prints it).
SUPPLIED_AT_DEPLOY = frozenset({"CodeKey"})
_FILE_NAME = re.compile(r"^(?P<stack>[a-z][a-z0-9-]*?)-(?P<environment>[a-z][a-z0-9]*)\.json$")


class ParameterFileError(ValueError):
    """A file that must not be deployed. ``problems`` are one line each: ``<file>: <field>: <what is wrong>``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ParameterFile:
    """A checked parameter file: which stack and environment it is for, and its values."""

    path: Path
    stack: str
    environment: str
    parameters: dict[str, str]

    def as_cloudformation(self) -> list[dict[str, str]]:
        """The ``Parameters`` list of the CloudFormation API (what the file holds)."""
        return [{"ParameterKey": key, "ParameterValue": value} for key, value in self.parameters.items()]

    def value(self, name: str, template: Mapping[str, Any]) -> str:
        """``name``'s value: from this file, else the template's default."""
        if name in self.parameters:
            return self.parameters[name]
        return str(template["Parameters"][name].get("Default", ""))


def read_json(path: Path, *, what: str = "file") -> Any:
    """``path`` as strict JSON: UTF-8, no duplicate keys, no NaN or Infinity; a one-line error otherwise."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ParameterFileError([f"{path}: cannot read the {what}: {error.strerror}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ParameterFileError([f"{path}: {len(raw)} bytes; a {what} holds at most {MAX_FILE_BYTES}"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ParameterFileError([f"{path}: not UTF-8 text (byte {error.start}): is it a binary file?"]) from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_finite_only)
    except json.JSONDecodeError as error:
        raise ParameterFileError(
            [f"{path}: not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"]
        ) from None
    except _DuplicateKey as duplicate:
        raise ParameterFileError([f"{path}: {duplicate.key}: given twice (JSON keys must be unique)"]) from None
    except _NotFinite as constant:
        raise ParameterFileError([f"{path}: {constant.name} is not a JSON number"]) from None


def stack_of(path: Path) -> tuple[str, str]:
    """(stack, environment) from a file name such as ``hub-dev.json``."""
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise ParameterFileError([f"{path}: the name must be <stack>-<environment>.json (e.g. hub-dev.json)"])
    return match["stack"], match["environment"]


def load(path: Path, template: Mapping[str, Any]) -> ParameterFile:
    """Parse and check ``path`` against ``template``; raise ``ParameterFileError`` listing every problem."""
    stack, environment = stack_of(path)
    document = read_json(path)
    entries, problems = _entries(document)
    declared = template.get("Parameters", {})
    problems += list(_value_problems(entries, declared))
    if problems:
        raise ParameterFileError([f"{path}: {problem}" for problem in problems])
    return ParameterFile(path, stack, environment, entries)


def _entries(document: Any) -> tuple[dict[str, str], list[str]]:
    example = '[{"ParameterKey": "<name>", "ParameterValue": "<value>"}, ...]'
    if not isinstance(document, list):
        return {}, [f"(file): must be a JSON list of parameters, {example}"]
    entries: dict[str, str] = {}
    problems = []
    for index, entry in enumerate(document):
        where = f"[{index}]"
        if not isinstance(entry, dict) or set(entry) != set(ENTRY_KEYS):
            problems.append(f'{where}: each entry is exactly {{"ParameterKey": ..., "ParameterValue": ...}}')
            continue
        key, value = entry["ParameterKey"], entry["ParameterValue"]
        if not isinstance(key, str) or not key:
            problems.append(f"{where}.ParameterKey: must be a parameter name")
        elif not isinstance(value, str):
            problems.append(f"{key}: must be a string (CloudFormation parameter values are strings)")
        elif key in entries:
            problems.append(f"{key}: given twice")
        else:
            entries[key] = value
    return entries, problems


def _value_problems(values: Mapping[str, str], declared: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    for name in sorted(set(values) - set(declared)):
        yield f"{name}: the template has no such parameter"
    for name, spec in sorted(declared.items()):
        if spec.get("NoEcho"):
            if name in values:
                yield f"{name}: a secret (NoEcho): supplied at deploy time, never committed"
            continue
        if name not in values:
            if "Default" not in spec and name not in SUPPLIED_AT_DEPLOY:
                yield f"{name}: required (the template gives no default)"
            continue
        yield from (f"{name}: {problem}" for problem in constraint_problems(values[name], spec))


def constraint_problems(value: str, spec: Mapping[str, Any]) -> Iterator[str]:
    """What CloudFormation (or the resource behind the parameter) would refuse about ``value``."""
    size = len(value.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        yield f"{size} bytes; CloudFormation takes at most {MAX_VALUE_BYTES} per value"
        return
    kind = spec.get("Type", "String")
    if kind == "CommaDelimitedList":
        items = value.split(",")
        if any(item != item.strip() or not item for item in items):
            yield f"{value!r}: a comma-separated list of non-empty items without spaces around them"
            return
    else:
        items = [value]
        if value != value.strip():
            yield f"{value!r}: spaces around the value"
            return
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
        yield from _number_problems(value, spec)


def _number_problems(value: str, spec: Mapping[str, Any]) -> Iterator[str]:
    # Every Number parameter of these templates is a count of something: days, executions, accounts.
    if not re.fullmatch(r"-?[0-9]+", value):
        yield f"{value!r} is not a whole number"
        return
    if "MinValue" in spec and int(value) < int(spec["MinValue"]):
        yield f"{value} is below the minimum {spec['MinValue']}"
    if "MaxValue" in spec and int(value) > int(spec["MaxValue"]):
        yield f"{value} is above the maximum {spec['MaxValue']}"


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _NotFinite(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _finite_only(name: str) -> Any:
    raise _NotFinite(name)
