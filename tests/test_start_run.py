"""The start helper refuses a bad document locally and names the execution by the run id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from scripts.start_run import main

ROOT = Path(__file__).resolve().parents[1]
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def state_machine_arn() -> Iterator[str]:
    with mock_aws():
        client = boto3.client("stepfunctions", region_name="eu-west-1")
        created = client.create_state_machine(
            name="sm", definition=DEFINITION, roleArn="arn:aws:iam::123456789012:role/x"
        )
        yield str(created["stateMachineArn"])


def test_a_valid_document_starts_an_execution_named_by_its_run_id(state_machine_arn: str) -> None:
    client = boto3.client("stepfunctions", region_name="eu-west-1")
    document = ROOT / "examples" / "canary-then-fleet.json"

    assert main([str(document), "--environment", "dev", "--state-machine-arn", state_machine_arn], client=client) == 0

    (execution,) = client.list_executions(stateMachineArn=state_machine_arn)["executions"]
    assert execution["name"] == "2026-12-patch-tuesday"


def test_without_a_run_id_the_name_comes_from_the_file_and_the_time(state_machine_arn: str) -> None:
    client = boto3.client("stepfunctions", region_name="eu-west-1")
    now = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)

    main(
        [str(ROOT / "examples" / "scan-only.json"), "--environment", "dev", "--state-machine-arn", state_machine_arn],
        client=client,
        now=now,
    )

    (execution,) = client.list_executions(stateMachineArn=state_machine_arn)["executions"]
    assert execution["name"] == "scan-only-20261208T093000Z"


def test_an_invalid_document_is_refused_before_anything_starts(
    state_machine_arn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = boto3.client("stepfunctions", region_name="eu-west-1")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"operation": "Install", "waves": []}))

    assert main([str(bad), "--environment", "dev", "--state-machine-arn", state_machine_arn], client=client) == 2

    assert "(document): must contain" in capsys.readouterr().err
    assert client.list_executions(stateMachineArn=state_machine_arn)["executions"] == []
