"""patchctl against a rehearsed hub: the hub in moto, described by a stack whose outputs name its resources."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import boto3
import pytest
from click.testing import CliRunner

from operator_cli.cli import cli
from rehearsal.hub import ARTIFACT_BUCKET, HUB_REGION, POLICY_PARAMETERS, Rehearsal
from rehearsal.template import generated_template

STACK = "patch-orchestrator-hub"
# The parameters patchctl reads, at the generated template's defaults.
READ_PARAMETERS = (
    "NamePrefix",
    "DefaultAccountConcurrency",
    "DefaultRegionConcurrency",
    "ApprovalRequiredWaves",
    "Approvers",
    "MinimumApprovers",
    "MaximumApprovalMinutes",
)


@dataclass(frozen=True)
class Ran:
    """What patchctl printed; the rehearsed handlers' own log and metric lines (CloudWatch's, in AWS) apart."""

    exit_code: int
    stdout: str
    stderr: str
    handler_output: list[dict[str, object]]


Patchctl = Callable[..., Ran]


def _handler_line(line: str) -> dict[str, object] | None:
    """A line a handler printed in this process: a Powertools JSON log line or EMF metrics."""
    if not line.startswith("{"):
        return None
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and parsed.get("service") == "patch-orchestrator" else None


def publish_stack(hub: Rehearsal, name: str = STACK) -> str:
    """A stack in moto whose outputs and parameters are the rehearsed hub's (what describe_stacks shows)."""
    # The stack's parameters as the rehearsal deployed them (its approval policy included).
    declared = generated_template("hub.json")["Parameters"]
    values = {name: str(declared[name].get("Default", "")) for name in READ_PARAMETERS} | POLICY_PARAMETERS
    template = {
        "Parameters": {name: {"Type": "String", "Default": values[name]} for name in READ_PARAMETERS},
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            "StateMachineArn": {"Value": hub.state_machine_arn},
            "RunTableName": {"Value": hub.table_name},
            "ArtifactBucketName": {"Value": ARTIFACT_BUCKET},
        },
    }
    cloudformation = boto3.client("cloudformation", region_name=HUB_REGION)
    return str(cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))["StackId"])


@pytest.fixture
def patchctl(hub: Rehearsal) -> Patchctl:
    """Run ``patchctl --stack <the hub> ARGS`` and return click's result (output, exit code)."""
    publish_stack(hub)
    runner = CliRunner()

    def run(*arguments: str, stack: str = STACK, input_text: str | None = None) -> Ran:
        result = runner.invoke(
            cli, ["--stack", stack, *arguments], prog_name="patchctl", catch_exceptions=False, input=input_text
        )
        own, handlers = [], []
        for line in result.stdout.splitlines(keepends=True):
            parsed = _handler_line(line)
            if parsed is None:
                own.append(line)
            else:
                handlers.append(parsed)
        return Ran(result.exit_code, "".join(own), result.stderr, handlers)

    return run
