"""A graph is collected from its start by reference and validated at build time, naming the state path."""

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
    Goto,
    Graph,
    Map,
    Parallel,
    Pass,
    Retry,
    State,
    Succeed,
    Task,
    Wait,
)

IS_REQUIRED = Condition.compare("$.approval.required", "BooleanEquals", True)
NOT_DONE = Condition.compare("$.command.done", "BooleanEquals", False)
ANY = ("States.ALL",)


def graph_error(graph: Graph) -> str:
    with pytest.raises(GraphError) as caught:
        validate(graph)
    return str(caught.value)


def inside_map(start: State) -> Graph:
    """A top-level Map named Waves whose processor starts at ``start``."""
    return Graph(Map("Waves", Graph(start), items_path="$.waves", end=True))


def names(graph: Graph) -> list[str]:
    return [state.name for state in graph.states]


# Collecting states by reference


def test_a_valid_graph_passes() -> None:
    validate(chain(Pass("A"), Pass("B"), Succeed("Done")).graph())


def test_every_state_a_transition_holds_is_collected() -> None:
    done = Succeed("Done")
    pick = Choice("Pick", choices=(ChoiceRule(IS_REQUIRED, Pass("Ask", next=done)),), default=Pass("Skip", next=done))
    graph = Graph(Pass("Start", next=pick))

    validate(graph)
    assert names(graph) == ["Start", "Pick", "Ask", "Done", "Skip"]


def test_a_state_reached_only_through_a_catch_is_in_the_graph() -> None:
    work = Task("Work", "arn", catch=(Catch(ANY, Fail("Failed", error="Boom")),), end=True)
    graph = Graph(work)

    validate(graph)
    assert names(graph) == ["Work", "Failed"]
    assert graph.to_asl()["States"]["Failed"] == {"Type": "Fail", "Error": "Boom"}


def test_catch_paths_follow_the_flow_and_a_catch_all_comes_before_specific_errors() -> None:
    # The diagram draws states in this order: the flow, then the scope's failure exit, then error handlers.
    handled = Fail("Rejected")
    halted = Fail("Halted")
    ask = Task("Ask", "arn", catch=(Catch(("Custom.Rejected",), handled), Catch(ANY, halted)))
    graph = chain(ask, Pass("Record"), Succeed("Done")).graph()

    assert names(graph) == ["Ask", "Record", "Done", "Halted", "Rejected"]


def test_equal_states_built_twice_are_one_state() -> None:
    pick = Choice("Pick", choices=(ChoiceRule(IS_REQUIRED, Succeed("Done")),), default=Succeed("Done"))
    graph = Graph(pick)

    validate(graph)
    assert names(graph) == ["Pick", "Done"]


def test_two_different_states_with_one_name_are_refused() -> None:
    first, second = Pass("Twin", result=1, end=True), Pass("Twin", result=2, end=True)
    graph = Graph(Choice("Pick", choices=(ChoiceRule(IS_REQUIRED, first),), default=second))

    assert "Twin: duplicate state name 'Twin' (also at Twin)" in graph_error(graph)


def test_duplicate_state_name_across_nested_scopes_is_refused_with_both_paths() -> None:
    waves = Map("Waves", Graph(Pass("Discover", end=True)), end=True)
    graph = Graph(Pass("Discover", next=waves))

    assert "Discover: duplicate state name 'Discover' (also at Waves/ItemProcessor/Discover)" in graph_error(graph)


def test_a_state_object_of_another_scope_is_refused_as_a_second_state_of_that_name() -> None:
    outer = Succeed("Outer")
    graph = Graph(Map("Waves", Graph(Pass("Inner", next=outer)), next=outer))

    assert "Waves/ItemProcessor/Outer: duplicate state name 'Outer' (also at Outer)" in graph_error(graph)


def test_a_state_caught_into_before_it_was_continued_is_refused() -> None:
    check = Pass("Check")
    rest = chain(check, Succeed("Done"))  # rebuilds Check with its Next; the object above stays open
    work = Task("Work", "arn", catch=(Catch(ANY, check),))

    message = graph_error(chain(work, rest).graph())
    assert "Check: duplicate state name 'Check' (also at Check)" in message
    assert "Check: non-terminal Pass state has neither Next nor End" in message


def test_a_string_is_not_a_transition_target() -> None:
    with pytest.raises(TypeError, match="Goto"):
        Catch(ANY, "RecordTargetFailure")  # type: ignore[arg-type]


# Back-references (loops) by name


def test_a_loop_goes_back_through_goto_and_renders_the_name() -> None:
    wait = Wait("WaitForPatch", seconds_path="$.command.nextWaitSeconds")
    loop = chain(wait, Pass("PollPatch"), branch("PatchDone", [(NOT_DONE, Goto(wait))])).then(Succeed("Patched"))
    graph = loop.graph()

    validate(graph)
    assert names(graph) == ["WaitForPatch", "PollPatch", "PatchDone", "Patched"]
    assert graph.to_asl()["States"]["PatchDone"]["Choices"][0]["Next"] == "WaitForPatch"
    assert graph.to_asl()["States"]["PatchDone"]["Default"] == "Patched"


def test_a_goto_to_a_missing_state_is_refused_with_its_path() -> None:
    check = Choice("PatchDone", choices=(ChoiceRule(NOT_DONE, Goto(Wait("WaitForPatch", seconds=5))),))
    message = graph_error(inside_map(Pass("PollPatch", next=check)))

    assert (
        "Waves/ItemProcessor/PatchDone: Choices[0] target 'WaitForPatch' does not exist in Waves/ItemProcessor"
        in message
    )


def test_a_goto_into_another_scope_is_refused() -> None:
    outer = Succeed("Outer")
    graph = Graph(Map("Waves", Graph(Pass("Inner", next=Goto(outer))), next=outer))

    assert "Waves/ItemProcessor/Inner: Next target 'Outer' does not exist in Waves/ItemProcessor" in graph_error(graph)


def test_a_goto_as_default_or_catch_is_checked_too() -> None:
    missing = Fail("Nowhere")
    pick = Choice("Pick", choices=(ChoiceRule(IS_REQUIRED, Succeed("Ask")),), default=Goto(missing))
    work = Task("Work", "arn", catch=(Catch(ANY, Goto(missing)),), next=pick)
    message = graph_error(Graph(work))

    assert "Pick: Default target 'Nowhere' does not exist in (top level)" in message
    assert "Work: Catch[States.ALL] target 'Nowhere' does not exist in (top level)" in message


# Other rules


def test_non_terminal_state_without_next_is_refused() -> None:
    graph = inside_map(Pass("Discover", next=Wait("Poll", seconds=5)))
    assert "Waves/ItemProcessor/Poll: non-terminal Wait state has neither Next nor End" in graph_error(graph)


def test_state_with_both_next_and_end_is_refused() -> None:
    graph = Graph(Pass("A", next=Succeed("B"), end=True))
    assert "A: has both Next and End" in graph_error(graph)


def test_choice_without_rules_is_refused() -> None:
    assert "Pick: Choice state has no rules" in graph_error(Graph(Choice("Pick", default=Succeed("Done"))))


def test_state_name_over_80_characters_is_refused() -> None:
    long_name = "RecordTarget" + "X" * 69
    graph = inside_map(Pass(long_name, end=True))
    assert f"Waves/ItemProcessor/{long_name}: state names must be 1 to 80 characters (got 81)" in graph_error(graph)


def test_parallel_branches_are_validated_as_their_own_scopes() -> None:
    right = Succeed("Right")
    both = Parallel("Both", (Graph(Pass("Left", next=Goto(right))), Graph(right)), end=True)
    message = graph_error(Graph(both))
    assert "Both/Branches[0]/Left: Next target 'Right' does not exist in Both/Branches[0]" in message


def test_catch_all_must_be_the_last_rule_and_stand_alone() -> None:
    failed = Fail("Failed")
    task = Task(
        "Work",
        "arn",
        catch=(Catch(ANY, failed), Catch(("Custom.Error",), failed)),
        retry=(Retry(("States.ALL", "Lambda.ServiceException")),),
        end=True,
    )
    message = graph_error(Graph(task))
    assert "Work: catch[0]: States.ALL must stand alone in the last rule" in message
    assert "Work: retry[0]: States.ALL must stand alone in the last rule" in message


def test_every_problem_is_reported_at_once() -> None:
    long_name = "A" * 81
    pick = Choice("Pick", choices=(ChoiceRule(IS_REQUIRED, Goto(Pass("Missing"))),), default=Wait("Open", seconds=1))
    lines = graph_error(Graph(Pass(long_name, next=pick))).splitlines()[1:]

    assert [line.strip() for line in lines] == [
        f"{long_name}: state names must be 1 to 80 characters (got 81)",
        "Pick: Choices[0] target 'Missing' does not exist in (top level)",
        "Open: non-terminal Wait state has neither Next nor End",
    ]


def test_state_machine_definition_validates_on_construction() -> None:
    with pytest.raises(GraphError, match=re.escape("A: non-terminal Pass state has neither Next nor End")):
        StateMachineDefinition(Graph(Pass("A")), comment="broken", timeout_seconds=60)


# Chains


def test_chain_wires_next_and_leaves_the_last_state_open() -> None:
    body = chain(Pass("A"), Pass("B"))

    assert body.start.name == "A"
    assert body.ends == ("B",)
    assert body.graph().to_asl()["States"]["A"]["Next"] == "B"
    assert "Next" not in body.graph().to_asl()["States"]["B"]
    assert "B: non-terminal Pass state has neither Next nor End" in graph_error(body.graph())
    assert body.close().graph().to_asl()["States"]["B"]["End"] is True


def test_branch_without_otherwise_joins_the_following_state() -> None:
    ask = chain(Pass("RequestApproval"))
    choice = branch("ApprovalRequired", [(IS_REQUIRED, ask)])
    body = choice.then(Pass("Accounts", end=True))

    assert choice.ends == ("ApprovalRequired", "RequestApproval")
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


def test_continuing_an_end_rebuilds_the_states_that_catch_into_it() -> None:
    finalize = Pass("Finalize")
    waves = Task("Waves", "arn", catch=(Catch(ANY, finalize, result_path="$.halt"),))
    body = chain(waves, Pass("NoHalt"), finalize, Succeed("Done"))
    graph = body.graph()

    validate(graph)
    states = graph.to_asl()["States"]
    assert states["Waves"]["Catch"][0]["Next"] == "Finalize"
    assert states["NoHalt"]["Next"] == "Finalize"
    assert states["Finalize"]["Next"] == "Done"
    (wired,) = [state for state in graph.states if state.name == "Finalize"]
    assert wired.transitions()[0].name == "Done"


def test_a_catch_into_a_fragment_leads_to_its_start_and_collects_all_of_it() -> None:
    failure = chain(Pass("RecordFailure"), Fail("Failed"))
    graph = chain(Task("Work", "arn", catch=(Catch(ANY, failure),)), Succeed("Done")).graph()

    validate(graph)
    assert graph.to_asl()["States"]["Work"]["Catch"][0]["Next"] == "RecordFailure"
    assert names(graph) == ["Work", "Done", "RecordFailure", "Failed"]


def test_continuing_a_closed_chain_is_refused() -> None:
    with pytest.raises(ValueError, match="no open end"):
        chain(Succeed("Done")).then(Pass("After"))


def test_a_choice_cannot_be_an_end() -> None:
    with pytest.raises(ValueError, match="cannot be an End"):
        branch("Pick", [(IS_REQUIRED, Succeed("Done"))]).close()


def test_chain_of_a_chain_is_itself_and_of_a_closed_state_has_no_end() -> None:
    body = chain(Pass("A"))
    assert Chain.of(body) is body
    assert Chain.of(Succeed("Done")).ends == ()
    assert Chain.of(Pass("B", end=True)).ends == ()
