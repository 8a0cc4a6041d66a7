"""Each typed state renders the Amazon States Language fields AWS expects, and refuses impossible combinations."""

from __future__ import annotations

import pytest

from generator.asl.chain import chain
from generator.asl.states import Catch, Condition, Fail, Map, Parallel, Pass, Retry, Succeed, Task, Wait

PROCESSOR = chain(Pass("Work", end=True)).graph()


def test_wait_renders_seconds_or_seconds_path() -> None:
    assert Wait("Fixed", seconds=30, end=True).to_asl() == {"Type": "Wait", "Seconds": 30, "End": True}
    assert Wait("Adaptive", seconds_path="$.poll.nextWaitSeconds", next="Poll").to_asl() == {
        "Type": "Wait",
        "SecondsPath": "$.poll.nextWaitSeconds",
        "Next": "Poll",
    }


@pytest.mark.parametrize("kwargs", [{}, {"seconds": 5, "seconds_path": "$.s"}])
def test_wait_needs_exactly_one_duration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Wait("Bad", **kwargs)  # type: ignore[arg-type]


def test_distributed_map_renders_processor_config_and_float_tolerance() -> None:
    accounts = Map(
        "Accounts",
        PROCESSOR,
        items_path="$.accounts",
        item_selector={"account.$": "$$.Map.Item.Value"},
        max_concurrency=20,
        mode="DISTRIBUTED",
        execution_type="STANDARD",
        tolerated_failure_percentage=100,
        label="Accounts",
        end=True,
    )
    asl = accounts.to_asl()

    assert asl["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert asl["ItemProcessor"]["StartAt"] == "Work"
    assert asl["ToleratedFailurePercentage"] == 100.0
    assert isinstance(asl["ToleratedFailurePercentage"], float)
    assert asl["MaxConcurrency"] == 20
    assert asl["ItemSelector"] == {"account.$": "$$.Map.Item.Value"}


def test_inline_map_has_no_execution_type() -> None:
    assert Map("Regions", PROCESSOR, end=True).to_asl()["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    with pytest.raises(ValueError, match="DISTRIBUTED maps only"):
        Map("Regions", PROCESSOR, execution_type="STANDARD", end=True)
    with pytest.raises(ValueError, match="needs execution_type"):
        Map("Accounts", PROCESSOR, mode="DISTRIBUTED", end=True)


def test_result_path_none_renders_json_null_and_default_is_omitted() -> None:
    assert Pass("Discard", result_path=None, end=True).to_asl()["ResultPath"] is None
    assert "ResultPath" not in Pass("Keep", end=True).to_asl()
    assert Task("T", "arn", output_path=None, end=True).to_asl()["OutputPath"] is None


def test_task_renders_retry_catch_and_timeouts_in_order_given() -> None:
    task = Task(
        "SendPatch",
        "arn",
        parameters={"a.$": "$.a"},
        timeout_seconds=300,
        heartbeat_seconds=60,
        retry=(Retry(("Custom.Throttled",), interval_seconds=5, max_attempts=4, max_delay_seconds=30),),
        catch=(Catch(("States.ALL",), "RecordTargetFailure"),),
        next="Poll",
    )
    asl = task.to_asl()

    assert asl["TimeoutSeconds"] == 300
    assert asl["HeartbeatSeconds"] == 60
    assert asl["Retry"] == [
        {
            "ErrorEquals": ["Custom.Throttled"],
            "IntervalSeconds": 5,
            "MaxAttempts": 4,
            "BackoffRate": 2.0,
            "MaxDelaySeconds": 30,
        }
    ]
    assert asl["Catch"] == [{"ErrorEquals": ["States.ALL"], "Next": "RecordTargetFailure", "ResultPath": "$.error"}]


def test_parallel_renders_each_branch() -> None:
    parallel = Parallel("Both", (PROCESSOR, chain(Succeed("Other")).graph()), end=True)
    branches = parallel.to_asl()["Branches"]
    assert [branch["StartAt"] for branch in branches] == ["Work", "Other"]


def test_fail_and_conditions_render() -> None:
    fail = Fail("WaveHalted", error="FailureBudgetExceeded", cause_path="$.reason").to_asl()
    assert fail == {"Type": "Fail", "Error": "FailureBudgetExceeded", "CausePath": "$.reason"}
    condition = Condition.all_of(
        Condition.compare("$.a", "IsPresent", True),
        Condition.negate(Condition.compare("$.b", "StringEquals", "x")),
    )
    assert condition.expression == {
        "And": [{"Variable": "$.a", "IsPresent": True}, {"Not": {"Variable": "$.b", "StringEquals": "x"}}]
    }
