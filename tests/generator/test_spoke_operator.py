"""Break-glass access in a spoke: only when asked for, trusted only by the role the deployer names, and able to
list and cancel commands in its region and nothing else."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rehearsal.template import generated_template


@pytest.fixture(scope="module")
def spoke() -> dict[str, Any]:
    return generated_template("spoke.json")


def test_the_operator_role_exists_only_when_a_trusted_role_is_named(spoke: dict[str, Any]) -> None:
    assert spoke["Parameters"]["OperatorRoleArn"]["Default"] == ""
    assert spoke["Conditions"]["HasOperatorRole"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OperatorRoleArn"}, ""]}]}
    assert spoke["Resources"]["SpokeOperatorRole"]["Condition"] == "HasOperatorRole"
    assert spoke["Outputs"]["SpokeOperatorRoleArn"]["Condition"] == "HasOperatorRole"


def test_only_the_named_role_may_assume_it(spoke: dict[str, Any]) -> None:
    role = spoke["Resources"]["SpokeOperatorRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Sid": "NamedOperatorRoleOnly",
        "Effect": "Allow",
        "Principal": {"AWS": {"Ref": "OperatorRoleArn"}},
        "Action": ["sts:AssumeRole"],
    }
    assert role["RoleName"] == {"Fn::Sub": "${NamePrefix}-spoke-operator-${AWS::Region}"}
    assert role["MaxSessionDuration"] == 3600


def test_it_may_list_and_cancel_commands_in_its_region_and_nothing_else(spoke: dict[str, Any]) -> None:
    (policy,) = spoke["Resources"]["SpokeOperatorRole"]["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    assert sorted(a for s in statements for a in s["Action"]) == [
        "ssm:CancelCommand", "ssm:ListCommandInvocations", "ssm:ListCommands",
    ]  # fmt: skip
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": {"Ref": "AWS::Region"}}}


def test_the_parameter_accepts_only_a_role_arn(spoke: dict[str, Any]) -> None:
    pattern = spoke["Parameters"]["OperatorRoleArn"]["AllowedPattern"]
    assert re.match(pattern, "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Ops_0123")
    assert re.match(pattern, "")
    assert not re.match(pattern, "arn:aws:iam::111111111111:user/alice")
    assert not re.match(pattern, "*")
