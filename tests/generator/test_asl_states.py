"""Each typed state renders the Amazon States Language fields AWS expects, and refuses impossible combinations."""

from __future__ import annotations

import pytest

from generator.asl.chain import chain
from generator.asl.states import (
    Catch,
    Choice,
    ChoiceRule,
    Condition,
    Fail,
    Goto,
    Map,
    Parallel,
    Pass,
    Retry,
    Succeed,
    Task,
    Transition,
    Wait,
)

PROCESSOR = chain(Pass("Work", end=True)).graph()


def test_wait_renders_seconds_or_seconds_path() -> None:
    assert Wait("Fixed", seconds=30, end=True).to_asl() == {"Type": "Wait", "Seconds": 30, "End": True}
    poll = Pass("Poll", end=True)
    assert Wait("Adaptive", seconds_path="$.poll.nextWaitSeconds", next=poll).to_asl() == {
        "Type": "Wait",
        "SecondsPath": "$.poll.nextWaitSeconds",
        "Next": "Poll",
    }


@pytest.mark.parametrize("kwargs", [{}, {"seconds": 5, "seconds_path": "$.s"}])
def test_wait_needs_exactly_one_duration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Wait("Bad", **kwargs)  # type: ignore[arg-type]


def test_distributed_map_renders_processor_config_and_an_integer_tolerance() -> None:
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
    assert asl["ToleratedFailurePercentage"] == 100
    assert isinstance(asl["ToleratedFailurePercentage"], int)  # AWS's schema refuses 100.0
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
        catch=(Catch(("States.ALL",), Pass("RecordTargetFailure", end=True)),),
        next=Wait("Poll", seconds=5, end=True),
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
    assert asl["Next"] == "Poll"


def test_transitions_list_next_and_rules_before_catches() -> None:
    failed, done = Fail("Failed"), Succeed("Done")
    task = Task("Work", "arn", catch=(Catch(("Custom.Error",), failed),), next=done)
    wait = Wait("WaitForPatch", seconds=5)
    choice = Choice("PatchDone", choices=(ChoiceRule(Condition.compare("$.done", "BooleanEquals", False), Goto(wait)),))

    assert task.transitions() == (
        Transition("Next", done),
        Transition("Catch[Custom.Error]", failed, ("Custom.Error",)),
    )
    assert choice.transitions() == (Transition("Choices[0]", Goto(wait)),)
    assert Goto(wait).name == "WaitForPatch"


def test_a_catch_or_rule_into_a_fragment_keeps_the_fragments_start() -> None:
    failure = chain(Pass("RecordFailure"), Fail("Failed"))
    rule = ChoiceRule(Condition.compare("$.done", "BooleanEquals", False), failure)

    assert Catch(("States.ALL",), failure).next is failure.start
    assert rule.to_asl()["Next"] == "RecordFailure"


def test_retargeting_keeps_a_state_whose_targets_did_not_change() -> None:
    done = Succeed("Done")
    task = Task("Work", "arn", catch=(Catch(("States.ALL",), Fail("Failed")),), next=done)
    other = Succeed("Other")

    assert task.retargeted(lambda target: target) is task
    moved = task.retargeted(lambda target: other if target is done else target)
    assert moved.to_asl()["Next"] == "Other"
    assert moved.catch == task.catch


def test_only_flow_states_continue_or_end() -> None:
    with pytest.raises(ValueError, match="cannot be an End"):
        Succeed("Done").ended()
    with pytest.raises(ValueError, match="cannot continue"):
        Fail("Failed").continued(Succeed("Done"))
    assert Pass("Open").is_open
    assert not Pass("Closed", end=True).is_open


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
