"""Graph validation refuses broken workflows at build time and names the state path."""

from __future__ import annotations

import re

import pytest

from generator.asl.chain import Chain, branch, chain
from generator.asl.graph import GraphError, StateMachineDefinition, validate
from generator.asl.states import (
    Catch,
    Choice,
    ChoiceRule,
    Condition,
    Fail,
    Graph,
    Map,
    Parallel,
    Pass,
    Retry,
    Succeed,
    Task,
    Wait,
)

IS_REQUIRED = Condition.compare("$.approval.required", "BooleanEquals", True)


def graph_error(graph: Graph) -> str:
    with pytest.raises(GraphError) as caught:
        validate(graph)
    return str(caught.value)


def inside_map(*states: object, start: str) -> Graph:
    """A top-level Map named Waves whose processor holds ``states``."""
    processor = Graph(start, tuple(states))  # type: ignore[arg-type]
    return Graph("Waves", (Map("Waves", processor, items_path="$.waves", end=True),))


def test_a_valid_graph_passes() -> None:
    validate(chain(Pass("A"), Pass("B"), Succeed("Done")).graph())


def test_duplicate_state_name_in_one_scope_is_refused() -> None:
    graph = Graph("A", (Pass("A", next="A2"), Pass("A2", end=True), Pass("A2", end=True)))
    assert "A2: duplicate state name 'A2' (also at A2)" in graph_error(graph)


def test_duplicate_state_name_across_nested_scopes_is_refused_with_both_paths() -> None:
    processor = Graph("Discover", (Pass("Discover", end=True),))
    graph = Graph("Discover", (Pass("Discover", next="Waves"), Map("Waves", processor, end=True)))
    assert "Discover: duplicate state name 'Discover' (also at Waves/ItemProcessor/Discover)" in graph_error(graph)


def test_next_to_a_missing_state_is_refused_with_its_path() -> None:
    graph = inside_map(Pass("Discover", next="Poll"), start="Discover")
    assert "Waves/ItemProcessor/Discover: Next target 'Poll' does not exist in Waves/ItemProcessor" in graph_error(
        graph
    )


def test_next_into_another_scope_is_refused() -> None:
    # States in a Map processor cannot jump to top-level states.
    processor = Graph("Inner", (Pass("Inner", next="Outer"),))
    graph = Graph("Waves", (Map("Waves", processor, next="Outer"), Succeed("Outer")))
    assert "Waves/ItemProcessor/Inner: Next target 'Outer' does not exist" in graph_error(graph)


def test_default_to_a_missing_state_is_refused() -> None:
    choice = Choice("ApprovalRequired", choices=(ChoiceRule(IS_REQUIRED, "Ask"),), default="Skip")
    graph = Graph("ApprovalRequired", (choice, Succeed("Ask")))
    assert "ApprovalRequired: Default target 'Skip' does not exist" in graph_error(graph)


def test_choice_rule_to_a_missing_state_is_refused() -> None:
    choice = Choice("ApprovalRequired", choices=(ChoiceRule(IS_REQUIRED, "Ask"),), default="Skip")
    graph = Graph("ApprovalRequired", (choice, Succeed("Skip")))
    assert "ApprovalRequired: Choices[0] target 'Ask' does not exist" in graph_error(graph)


def test_catch_to_a_missing_state_is_refused() -> None:
    task = Task("SendPatch", "arn", catch=(Catch(("States.ALL",), "RecordTargetFailure"),), end=True)
    graph = inside_map(task, start="SendPatch")
    message = graph_error(graph)
    assert "Waves/ItemProcessor/SendPatch: Catch[States.ALL] target 'RecordTargetFailure' does not exist" in message


def test_unreachable_state_is_refused() -> None:
    graph = inside_map(Pass("Discover", end=True), Pass("Orphan", end=True), start="Discover")
    assert "Waves/ItemProcessor/Orphan: unreachable from 'Discover'" in graph_error(graph)


def test_state_reached_only_by_catch_is_reachable() -> None:
    task = Task("Work", "arn", catch=(Catch(("States.ALL",), "Failed"),), end=True)
    validate(Graph("Work", (task, Fail("Failed", error="Boom"))))


def test_non_terminal_state_without_next_is_refused() -> None:
    graph = inside_map(Pass("Discover", next="Poll"), Wait("Poll", seconds=5), start="Discover")
    assert "Waves/ItemProcessor/Poll: non-terminal Wait state has neither Next nor End" in graph_error(graph)


def test_state_with_both_next_and_end_is_refused() -> None:
    graph = Graph("A", (Pass("A", next="B", end=True), Succeed("B")))
    assert "A: has both Next and End" in graph_error(graph)


def test_state_name_over_80_characters_is_refused() -> None:
    long_name = "RecordTarget" + "X" * 69
    graph = inside_map(Pass(long_name, end=True), start=long_name)
    assert f"Waves/ItemProcessor/{long_name}: state names must be 1 to 80 characters (got 81)" in graph_error(graph)


def test_missing_start_state_is_refused() -> None:
    assert "(top level): StartAt 'Nowhere' does not exist" in graph_error(Graph("Nowhere", (Succeed("Done"),)))


def test_parallel_branches_are_validated_as_their_own_scopes() -> None:
    branch_graph = Graph("Left", (Pass("Left", next="Right"),))
    graph = Graph("Both", (Parallel("Both", (branch_graph,), end=True),))
    assert "Both/Branches[0]/Left: Next target 'Right' does not exist in Both/Branches[0]" in graph_error(graph)


def test_catch_all_must_be_the_last_rule_and_stand_alone() -> None:
    task = Task(
        "Work",
        "arn",
        catch=(Catch(("States.ALL",), "Failed"), Catch(("Custom.Error",), "Failed")),
        retry=(Retry(("States.ALL", "Lambda.ServiceException")),),
        end=True,
    )
    message = graph_error(Graph("Work", (task, Fail("Failed"))))
    assert "Work: catch[0]: States.ALL must stand alone in the last rule" in message
    assert "Work: retry[0]: States.ALL must stand alone in the last rule" in message


def test_every_problem_is_reported_at_once() -> None:
    graph = Graph("A", (Pass("A", next="Missing"), Pass("Orphan")))
    lines = graph_error(graph).splitlines()[1:]
    assert len(lines) == 3  # missing target, Orphan open, Orphan unreachable


def test_state_machine_definition_validates_on_construction() -> None:
    with pytest.raises(GraphError, match=re.escape("A: Next target 'B' does not exist")):
        StateMachineDefinition(Graph("A", (Pass("A", next="B"),)), comment="broken", timeout_seconds=60)


def test_chain_wires_next_and_leaves_the_last_state_open() -> None:
    body = chain(Pass("A"), Pass("B"))

    assert body.start == "A"
    assert body.ends == ("B",)
    assert body.graph().to_asl()["States"]["A"]["Next"] == "B"
    assert "Next" not in body.graph().to_asl()["States"]["B"]
    assert "B: non-terminal Pass state has neither Next nor End" in graph_error(body.graph())
    assert body.close().graph().to_asl()["States"]["B"]["End"] is True


def test_branch_without_otherwise_joins_the_following_state() -> None:
    ask = chain(Pass("RequestApproval"))
    body = branch("ApprovalRequired", [(IS_REQUIRED, ask)]).then(Pass("Accounts", end=True))

    states = body.graph().to_asl()["States"]
    validate(body.graph())
    assert states["ApprovalRequired"]["Choices"] == [
        {"Variable": "$.approval.required", "BooleanEquals": True, "Next": "RequestApproval"}
    ]
    assert states["ApprovalRequired"]["Default"] == "Accounts"
    assert states["RequestApproval"]["Next"] == "Accounts"


def test_converging_branches_share_one_tail_state() -> None:
    tail = Succeed("Done")
    body = branch("Pick", [(IS_REQUIRED, chain(Pass("Left"), tail))], otherwise=chain(Pass("Right"), tail))

    validate(body.graph())
    assert [state.name for state in body.states] == ["Pick", "Left", "Done", "Right"]
    assert body.ends == ()


def test_continuing_a_closed_chain_is_refused() -> None:
    with pytest.raises(ValueError, match="no open end"):
        chain(Succeed("Done")).then(Pass("After"))


def test_include_adds_catch_targets_without_wiring_them() -> None:
    work = Task("Work", "arn", catch=(Catch(("States.ALL",), "Failed"),))
    body = chain(work, Succeed("Done")).include(Fail("Failed", error="Boom"))

    validate(body.graph())
    assert body.graph().to_asl()["States"]["Work"]["Next"] == "Done"
    assert isinstance(Chain.of(body).states[-1], Fail)
