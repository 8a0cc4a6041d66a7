"""Each fragment of the patch-run workflow has one start and the open ends its callers continue."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from troposphere import GetAtt, Ref, Sub

from generator.asl.chain import Chain
from generator.asl.graph import validate
from generator.asl.states import Catch, Choice, Fail, Goto, Map, Pass, State, Task
from generator.asl.tasks import FunctionTarget, TableTarget
from generator.asl.workflow import WorkflowFunctions
from generator.asl.workflow.approval import wave_approval
from generator.asl.workflow.command_loop import command_loop
from generator.asl.workflow.target import target
from generator.asl.workflow.waves import account, target_group, wave
from handlers.contract.errors import NotThisRun

FUNCTIONS = WorkflowFunctions(
    **{
        field.name: FunctionTarget(field.name.title().replace("_", ""), GetAtt(f"{field.name}Function", "Arn"), 60)
        for field in dataclasses.fields(WorkflowFunctions)
    }
)
RUN_TABLE = TableTarget("RunTable", Ref("RunTable"), GetAtt("RunTable", "Arn"), GetAtt("Key", "Arn"))
MACHINE = Sub("patch-run")


def by_name(fragment: Chain) -> dict[str, State]:
    return {state.name: state for state in fragment.states}


def test_a_command_loop_starts_with_the_send_and_stays_open_at_its_done_check() -> None:
    failed = Fail("TargetFailed")
    loop = command_loop(
        "patch",
        "Patch",
        send=FUNCTIONS.send_command,
        poll=FUNCTIONS.poll_command,
        on_failure=(Catch(("States.ALL",), failed),),
    )
    states = by_name(loop)

    assert loop.start.name == "SendPatch"
    assert loop.ends == ("PatchDone",)
    assert list(states) == ["SendPatch", "WaitForPatch", "PollPatch", "PatchDone", "TargetFailed"]
    done = states["PatchDone"]
    assert isinstance(done, Choice)
    assert done.choices[0].next == Goto(states["WaitForPatch"])
    assert done.default is None


def test_a_target_is_closed_and_records_its_own_failure() -> None:
    fragment = target(FUNCTIONS)
    states = by_name(fragment)

    assert fragment.start.name == "Discover"
    assert fragment.ends == ()
    validate(fragment.graph())
    # Reached only through Catch rules, yet in the graph without any wiring by hand.
    assert {"RecordTargetFailure", "TargetUnrecorded", "TargetRefused"} <= set(states)
    for name, state in states.items():
        if isinstance(state, Task) and name != "RecordTargetFailure":
            # A refusal (NotThisRun) is not recorded as the target's failure: recording would be refused too.
            assert [rule.next.name for rule in state.catch] == ["TargetRefused", "RecordTargetFailure"], name
            assert state.catch[0].error_equals == (NotThisRun.error_name(),), name


def test_the_approval_is_open_where_a_wave_proceeds_and_refusals_end_in_their_own_fail() -> None:
    halt = Fail("WaveHalted")
    fragment = wave_approval(FUNCTIONS.request_approval, RUN_TABLE, halt=halt)
    states = by_name(fragment)

    assert fragment.start.name == "ApprovalRequired"
    assert fragment.ends == ("ApprovalRequired", "RecordApproval")
    assert states["WaveHalted"] is halt
    # Reached only through RequestApproval's Catch rules (test_workflow checks which error leads where).
    refusals = {"RejectionExplained", "RecordApprovalRejected", "WaveRejected", "RecordApprovalTimedOut"}
    assert refusals | {"WaveNotApproved"} <= set(states)
    proceeded = fragment.then(Pass("Proceed", end=True)).graph()
    validate(proceeded)
    assert proceeded.to_asl()["States"]["ApprovalRequired"]["Default"] == "Proceed"
    assert proceeded.to_asl()["States"]["RecordApproval"]["Next"] == "Proceed"


@pytest.mark.parametrize(
    ("build", "start"),
    [
        (lambda: wave(FUNCTIONS, RUN_TABLE, MACHINE), "ApprovalRequired"),
        (lambda: target_group(FUNCTIONS, MACHINE), "Accounts"),
        (lambda: account(FUNCTIONS), "Regions"),
    ],
    ids=["wave", "target group", "account"],
)
def test_every_map_iteration_is_a_closed_fragment(build: Callable[[], Chain], start: str) -> None:
    fragment = build()

    assert fragment.start.name == start
    assert fragment.ends == ()
    validate(fragment.graph())


def test_a_wave_halts_at_one_fail_whatever_stops_it() -> None:
    states = by_name(wave(FUNCTIONS, RUN_TABLE, MACHINE))
    caught_into_halt = sorted(
        name
        for name, state in states.items()
        if isinstance(state, Task) and any(rule.next.name == "WaveHalted" for rule in state.catch)
    )

    assert caught_into_halt == ["EvaluateWave", "FindApproval", "ReadDecision", "RecordApproval", "RequestApproval"]
    groups = states["TargetGroups"]
    assert isinstance(groups, Map)
    assert [rule.next.name for rule in groups.catch] == ["EvaluateWave"]
