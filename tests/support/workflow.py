"""Run the generated hub workflow in moto's executing Step Functions backend (see TESTING notes in docs)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from tests.support.cfn import generated_template, resolve, resolve_definition

EXECUTING_BACKENDS = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
TEST_ROLE_ARN = "arn:aws:iam::123456789012:role/patch-run-state-machine"


@dataclass(frozen=True)
class HubWorkflow:
    """The generated state machine deployed into moto, with the resources its tasks address."""

    state_machine_arn: str
    run_table_name: str

    def run(self, name: str, document: dict[str, Any], *, timeout_seconds: float = 30) -> dict[str, Any]:
        """Start an execution named ``name`` and wait for it to end; returns ``describe_execution``."""
        client = boto3.client("stepfunctions")
        execution_arn = client.start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(document)
        )["executionArn"]
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            described = client.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.05)
        raise AssertionError(f"execution {name} still running after {timeout_seconds}s")

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        client = boto3.client("stepfunctions")
        pages = client.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        return [event for page in pages for event in page["events"]]

    def run_record(self, run_id: str) -> dict[str, Any] | None:
        item = boto3.client("dynamodb").get_item(
            TableName=self.run_table_name, Key={"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": "META"}}
        )
        return item.get("Item")


@contextmanager
def deployed_hub_workflow() -> Iterator[HubWorkflow]:
    """Create the run table (from the template's own key schema) and the state machine, inside moto."""
    template = generated_template("hub.json")
    defaults = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
    with mock_aws(config=EXECUTING_BACKENDS):  # type: ignore[arg-type]
        table = template["Resources"]["PatchRunsTable"]["Properties"]
        table_name = resolve(table["TableName"], defaults)
        boto3.client("dynamodb").create_table(
            TableName=table_name,
            BillingMode=table["BillingMode"],
            AttributeDefinitions=table["AttributeDefinitions"],
            KeySchema=table["KeySchema"],
        )
        definition = resolve_definition(template, "PatchRunStateMachine", {"RunTableName": table_name})
        state_machine_arn = boto3.client("stepfunctions").create_state_machine(
            name=resolve(template["Resources"]["PatchRunStateMachine"]["Properties"]["StateMachineName"], defaults),
            definition=json.dumps(definition),
            roleArn=TEST_ROLE_ARN,
            type="STANDARD",
        )["stateMachineArn"]
        yield HubWorkflow(state_machine_arn, table_name)
