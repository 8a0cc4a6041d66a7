"""The generated state machine executes in moto: runs are recorded, waves run in order, reruns are refused."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from tests.support.workflow import HubWorkflow, deployed_hub_workflow

TWO_WAVES = {"waves": [{"name": "canary"}, {"name": "fleet"}]}


@pytest.fixture
def hub() -> Iterator[HubWorkflow]:
    with deployed_hub_workflow() as deployed:
        yield deployed


def test_run_succeeds_and_is_recorded(hub: HubWorkflow) -> None:
    result = hub.run("2026-12-patch-tuesday", TWO_WAVES)

    assert result["status"] == "SUCCEEDED"
    record = hub.run_record("2026-12-patch-tuesday")
    assert record is not None
    assert record["status"] == {"S": "SUCCEEDED"}
    assert record["startedAt"]["S"] <= record["endedAt"]["S"]


def test_waves_are_processed_one_at_a_time_in_document_order(hub: HubWorkflow) -> None:
    document = {"waves": [{"name": f"wave-{index}"} for index in range(4)]}

    result = hub.run("ordered", document)

    assert result["status"] == "SUCCEEDED"
    history = hub.history(result["executionArn"])
    planned = [
        event["stateExitedEventDetails"]["output"]
        for event in history
        if event["type"] == "PassStateExited" and event["stateExitedEventDetails"]["name"] == "PlanWave"
    ]
    assert [f'"wave-{index}"' in output for index, output in enumerate(planned)] == [True] * 4
    map_started = [event for event in history if event["type"] == "MapStateStarted"]
    assert len(map_started) == 1


def test_run_id_already_recorded_is_refused_and_the_record_is_kept(hub: HubWorkflow) -> None:
    # A run recorded by an earlier deployment (execution names are only unique per state machine).
    earlier = {"pk": {"S": "RUN#once-only"}, "sk": {"S": "META"}, "status": {"S": "SUCCEEDED"}}
    boto3.client("dynamodb").put_item(TableName=hub.run_table_name, Item=earlier)

    result = hub.run("once-only", TWO_WAVES)

    assert result["status"] == "FAILED"
    assert result["error"] == "RunAlreadyExists"
    assert hub.run_record("once-only") == earlier
    entered = [
        event["stateEnteredEventDetails"]["name"]
        for event in hub.history(result["executionArn"])
        if "stateEnteredEventDetails" in event
    ]
    assert "Waves" not in entered


def test_unusable_run_table_fails_the_run_with_the_service_error(hub: HubWorkflow) -> None:
    boto3.client("dynamodb").delete_table(TableName=hub.run_table_name)

    result = hub.run("no-table", TWO_WAVES)

    assert result["status"] == "FAILED"
    assert result["error"] == "DynamoDB.ResourceNotFoundException"
    entered = [
        event["stateEnteredEventDetails"]["name"]
        for event in hub.history(result["executionArn"])
        if "stateEnteredEventDetails" in event
    ]
    assert entered == ["RecordRunStarted", "RecordRunFailed", "RunFailed"]
