"""Walk the IAM policy documents inside a template, and make them concrete enough for policy linters."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

ACCOUNT, REGION, PARTITION = "111111111111", "eu-west-1", "aws"
PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}


def identity_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, statement) for every identity-policy statement: role inline policies and managed policies."""
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield logical_id, statement
        elif resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            for statement in properties["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def concrete(value: Any, template: dict[str, Any], parameters: Mapping[str, str]) -> Any:
    """``value`` with Ref, Fn::GetAtt, Fn::Sub, Fn::Select/Split resolved to values of the right shape: pseudo
    parameters, ``parameters`` (else their defaults), and ARNs or names for the template's own resources."""
    if isinstance(value, list):
        return [concrete(item, template, parameters) for item in value]
    if not isinstance(value, dict):
        return value
    (function, argument), *_ = value.items() if len(value) == 1 else [(None, None)]
    resolve = _INTRINSICS.get(function) if isinstance(function, str) else None
    if resolve is not None:
        return resolve(argument, template, parameters)
    return {key: concrete(item, template, parameters) for key, item in value.items()}


def _sub(argument: Any, template: dict[str, Any], parameters: Mapping[str, str]) -> str:
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    bound = {name: concrete(v, template, parameters) for name, v in variables.items()}
    return re.sub(
        r"\$\{([^}]+)\}", lambda m: str(bound[m[1]] if m[1] in bound else _ref(m[1], template, parameters)), text
    )


def _ref(name: str, template: dict[str, Any], parameters: Mapping[str, str]) -> str:
    if name in PSEUDO:
        return PSEUDO[name]
    if name in template.get("Parameters", {}):
        return str(parameters.get(name) or template["Parameters"][name].get("Default", ""))
    kind = template["Resources"][name]["Type"]
    return {
        "AWS::SNS::Topic": f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{name}",
        "AWS::SecretsManager::Secret": f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf",
        "AWS::StepFunctions::StateMachine": f"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:stateMachine:{name}",
    }.get(kind, name.lower())


def _arn(name: str, template: dict[str, Any]) -> str:
    kind = template["Resources"][name]["Type"]
    return {
        "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
        "AWS::KMS::Key": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/0123abcd-0123-0123-0123-0123456789ab",
        "AWS::Lambda::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "AWS::Logs::LogGroup": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
        "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}",
        "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{name.lower()}",
        "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}",
    }[kind]


_INTRINSICS: dict[str, Any] = {
    "Ref": _ref,
    "Fn::GetAtt": lambda argument, template, _parameters: _arn(argument[0], template),
    "Fn::Select": lambda argument, template, parameters: concrete(argument[1], template, parameters)[argument[0]],
    "Fn::Split": lambda argument, template, parameters: str(concrete(argument[1], template, parameters)).split(
        argument[0]
    ),
    "Fn::Sub": _sub,
}
