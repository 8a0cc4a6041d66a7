"""The hub as the operator's commands see it: found from its stack name, its outputs and parameters.

``describe_stacks`` gives the resources' names (``StateMachineArn``, ``RunTableName``, ``ArtifactBucketName``)
and the hub's parameters (concurrency defaults, ``NamePrefix``), so nobody pastes ARNs. The region comes from
``--region``, else from the stack's ARN when ``--stack`` is one, else from the profile or environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from handlers.records.repository import RunTable
from operator_cli.errors import NO_REGION, OperatorError

# The outputs the commands read (generator/outputs.py writes them).
REQUIRED_OUTPUTS = ("StateMachineArn", "RunTableName", "ArtifactBucketName")


def region_from_arn(value: str) -> str | None:
    """The region field of an ARN (``arn:aws:cloudformation:eu-west-1:...``); None when ``value`` is a name."""
    fields = value.split(":")
    if len(fields) >= 6 and fields[0] == "arn" and fields[3]:
        return fields[3]
    return None


@dataclass
class Hub:
    """A deployed hub stack: where it is, what it created, and clients for its region."""

    stack_name: str
    region: str
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]
    session: Any
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """One client per service, in the hub's region."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region)
        return self._clients[service]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    @property
    def table_name(self) -> str:
        return self.outputs["RunTableName"]

    @property
    def artifact_bucket(self) -> str:
        return self.outputs["ArtifactBucketName"]

    @property
    def name_prefix(self) -> str:
        return self.parameters.get("NamePrefix", "patch-orchestrator")

    def runs(self) -> RunTable:
        return RunTable(self.client("dynamodb"), self.table_name)

    def execution_arn(self, run_id: str) -> str:
        """The execution of a run: the state machine's ARN with ``execution`` and the run id as its name."""
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{run_id}"

    def int_parameter(self, name: str, default: int) -> int:
        value = self.parameters.get(name, "")
        return int(value) if value.lstrip("-").isdigit() else default


def find_hub(stack: str, *, region: str | None, profile: str | None, session: Any = None) -> Hub:
    """Describe ``stack`` (a name or a stack ARN); refuse one that is missing or is not a hub, naming it."""
    chosen = session or boto3.Session(profile_name=profile)
    where = region or region_from_arn(stack) or chosen.region_name
    if not where:
        raise OperatorError(NO_REGION)
    try:
        described = chosen.client("cloudformation", region_name=where).describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationError":
            raise OperatorError(
                f"no stack {stack!r} in {where}: pass the hub's stack name (--stack, PATCHCTL_STACK) and the region "
                "it is deployed in"
            ) from None
        raise
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        status = described.get("StackStatus", "")
        raise OperatorError(
            f"stack {stack!r} ({status}) has no output {', '.join(missing)}: is it the hub stack, and deployed?"
        )
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    return Hub(described["StackName"], where, outputs, parameters, chosen)
