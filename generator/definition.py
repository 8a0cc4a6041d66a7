"""The patch-run definition as Step Functions will receive it from CloudFormation, for AWS's own validator.

``aws stepfunctions validate-state-machine-definition`` checks a definition without creating anything, but it
takes plain ASL: the hub template's definition holds ``Fn::Sub`` values and ``${...}`` substitutions that only
CloudFormation fills in. Here both are resolved as CloudFormation will resolve them for one environment: the
partition, region and account of its hub, and the names its ``NamePrefix`` gives the functions and the table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"
_REFERENCE = re.compile(r"\$\{([^}!]+)\}")


class DefinitionError(ValueError):
    """A value in the template this module cannot resolve (a new kind of substitution needs a case here)."""


def partition(region: str) -> str:
    """The partition of a region (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def deployed_definition(template: Mapping[str, Any], *, name_prefix: str, account: str, region: str) -> dict[str, Any]:
    """The state machine's definition with every intrinsic and substitution replaced by its deployed value."""
    (properties,) = [
        resource["Properties"] for resource in template["Resources"].values() if resource["Type"] == STATE_MACHINE_TYPE
    ]
    names = {
        "AWS::Partition": partition(region),
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::URLSuffix": "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com",
        "NamePrefix": name_prefix,
    }
    definition = _resolve(properties["Definition"], names)
    values = {
        key: _physical(value, template, names) for key, value in properties.get("DefinitionSubstitutions", {}).items()
    }
    text = _REFERENCE.sub(lambda match: _lookup(values, match.group(1)), json.dumps(definition, sort_keys=True))
    resolved: dict[str, Any] = json.loads(text)
    return resolved


def _lookup(values: Mapping[str, str], key: str) -> str:
    if key not in values:
        raise DefinitionError(f"the definition uses ${{{key}}}, which DefinitionSubstitutions does not define")
    return values[key]


def _resolve(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` with ``Fn::Sub`` (string form) and ``Ref`` to ``names`` replaced."""
    if isinstance(value, list):
        return [_resolve(item, names) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return _REFERENCE.sub(lambda match: _name(names, match.group(1)), value["Fn::Sub"])
    if set(value) == {"Ref"}:
        return _name(names, value["Ref"])
    if any(key.startswith("Fn::") for key in value):
        raise DefinitionError(f"cannot resolve {json.dumps(value)[:80]} in the definition")
    return {key: _resolve(item, names) for key, item in value.items()}


def _name(names: Mapping[str, str], name: str) -> str:
    if name not in names:
        raise DefinitionError(f"the definition refers to {name}, which is neither a pseudo parameter nor NamePrefix")
    return names[name]


def _physical(value: Any, template: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """A substitution's deployed value: a function's ARN (``Fn::GetAtt [F, Arn]``) or a table's name (``Ref``)."""
    resources = template["Resources"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        resource = resources[logical_id]
        if resource["Type"] == "AWS::Lambda::Function" and attribute == "Arn":
            function_name = _resolve(resource["Properties"]["FunctionName"], names)
            return (
                f"arn:{names['AWS::Partition']}:lambda:{names['AWS::Region']}:{names['AWS::AccountId']}:"
                f"function:{function_name}"
            )
    if isinstance(value, dict) and "Ref" in value:
        resource = resources[value["Ref"]]
        if resource["Type"] == "AWS::DynamoDB::Table":
            return str(_resolve(resource["Properties"]["TableName"], names))
    raise DefinitionError(f"cannot resolve the substitution {json.dumps(value)[:80]}")
