"""Resolve the CloudFormation values inside a generated template offline, as a deployment would."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from generator.build import artifacts

PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
}
_REFERENCE = re.compile(r"\$\{([^}!]+)\}")


def generated_template(name: str) -> dict[str, Any]:
    """A freshly generated template (``hub.json``/``spoke.json``) as a dict (a copy: callers may change it)."""
    return json.loads(_generated()[name])


@cache
def _generated() -> dict[str, str]:
    """The build, once per process: the code cannot change while the tests run."""
    return {artifact.name: artifact.content for artifact in artifacts()}


def committed_template(root: Path, name: str) -> dict[str, Any]:
    return json.loads((root / "output" / name).read_text(encoding="utf-8"))


def resolve(
    value: Any,
    names: Mapping[str, Any],
    *,
    attributes: Mapping[tuple[str, str], Any] | None = None,
    conditions: Mapping[str, bool] | None = None,
) -> Any:
    """``value`` with ``Ref``, ``Fn::Sub`` (both forms), ``Fn::GetAtt``, ``Fn::If``, ``Fn::Join``, ``Fn::Split``
    and ``Fn::Select`` replaced, as a deployment would:
    ``names`` for references (pseudo parameters included), ``attributes`` for (logical id, attribute), ``conditions``
    for conditions. An unknown name raises KeyError, so a test never runs on a half-resolved value."""
    lookup = {**PSEUDO_PARAMETERS, **names}
    found = attributes or {}

    def again(item: Any) -> Any:
        return resolve(item, names, attributes=attributes, conditions=conditions)

    def sub(argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {name: again(item) for name, item in variables.items()}
        dotted = {f"{logical_id}.{attribute}": v for (logical_id, attribute), v in found.items()}
        return _substitute(text, {**lookup, **dotted, **local})

    def choose(argument: list[Any]) -> Any:
        condition, when, otherwise = argument
        return again(when if (conditions or {})[condition] else otherwise)

    def join(argument: list[Any]) -> str:
        delimiter, items = argument
        return str(delimiter).join(str(item) for item in again(items))

    def split(argument: list[Any]) -> list[str]:
        delimiter, text = argument
        return str(again(text)).split(delimiter)

    intrinsics = {
        "Fn::Sub": sub,
        "Ref": lambda name: lookup[name],
        "Fn::GetAtt": lambda argument: found[tuple(argument)],
        "Fn::If": choose,
        "Fn::Join": join,
        "Fn::Split": split,
        "Fn::Select": lambda argument: again(argument[1])[int(argument[0])],
    }
    if isinstance(value, list):
        return [again(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and next(iter(value)) in intrinsics:
        ((function, argument),) = value.items()
        return intrinsics[function](argument)
    return {key: again(item) for key, item in value.items()}


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


FUNCTION_SUFFIX = "Function"


@dataclass(frozen=True)
class HubFunction:
    """One ``AWS::Lambda::Function`` of the hub: ``name`` is its logical id without ``Function`` (``Discover``)."""

    name: str
    handler_module: str  # handlers.discover
    function_name: str  # resolved with the default NamePrefix
    variables: tuple[str, ...]  # the environment variables the template sets

    @property
    def module(self) -> str:
        """The handler module's name inside ``handlers`` (``discover``)."""
        return self.handler_module.removeprefix("handlers.")


@cache
def hub_functions() -> tuple[HubFunction, ...]:
    template = generated_template("hub.json")
    prefix = template["Parameters"]["NamePrefix"]["Default"]
    found = []
    for logical_id, resource in sorted(template["Resources"].items()):
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties: dict[str, Any] = resource["Properties"]
        module, _, attribute = properties["Handler"].rpartition(".")
        assert attribute == "lambda_handler", logical_id
        found.append(
            HubFunction(
                name=logical_id.removesuffix(FUNCTION_SUFFIX),
                handler_module=module,
                function_name=properties["FunctionName"]["Fn::Sub"].replace("${NamePrefix}", prefix),
                variables=tuple(sorted(properties["Environment"]["Variables"])),
            )
        )
    return tuple(found)


def hub_function(name: str) -> HubFunction:
    (found,) = [function for function in hub_functions() if function.name == name]
    return found
