"""The Mermaid diagram is generated from the same graph as the state machine."""

from __future__ import annotations

import re

from generator.asl.chain import branch, chain
from generator.asl.diagram import mermaid
from generator.asl.graph import walk
from generator.asl.states import Catch, Condition, Fail, Goto, Map, Pass, Succeed, Task, Wait
from generator.hub import build_hub


def test_every_state_of_the_hub_workflow_is_drawn_once() -> None:
    hub = build_hub()
    diagram = mermaid(hub.workflow.graph, title="Hub")

    for state in walk(hub.workflow.graph):
        assert len(re.findall(rf'"{re.escape(state.name)}(<br/>| · |")', diagram)) == 1, state.name


def test_transitions_choices_catches_and_map_scopes_are_drawn() -> None:
    inner = chain(Pass("PlanWave")).close().graph()
    work = Task("Work", "arn", catch=(Catch(("States.ALL",), Fail("Failed", error="Boom")),))
    body = chain(
        branch("Ready?", [(Condition.compare("$.ready", "BooleanEquals", True), Pass("Go"))]),
        Map("Waves", inner, max_concurrency=1),
        work,
        Succeed("Done"),
    )

    diagram = mermaid(body.graph(), title="Example")

    assert diagram.startswith("# Example\n")
    assert "```mermaid\nflowchart TD\n" in diagram
    assert 'subgraph n3["Waves · Map, max 1 at a time"]' in diagram
    assert "n3_start((each)) --> n4" in diagram
    assert 'n1 -->|"$.ready BooleanEquals true"| n2' in diagram
    assert 'n1 -->|"otherwise"| n3' in diagram
    assert 'n5 -.->|"States.ALL"| n7' in diagram
    assert 'n7[["Failed<br/><small>Boom</small>"]]:::fail' in diagram
    assert "start --> n1" in diagram


def test_a_loop_back_through_goto_is_drawn_to_the_earlier_state() -> None:
    wait = Wait("WaitForPatch", seconds=5)
    not_done = Condition.compare("$.command.done", "BooleanEquals", False)
    body = chain(wait, Pass("PollPatch"), branch("PatchDone", [(not_done, Goto(wait))]), Succeed("Patched"))

    diagram = mermaid(body.graph(), title="Loop")

    assert 'n3 -->|"$.command.done BooleanEquals false"| n1' in diagram
    assert 'n3 -->|"otherwise"| n4' in diagram


def test_labels_escape_characters_that_would_break_mermaid() -> None:
    diagram = mermaid(chain(Pass('Say "hi" <now>', end=True)).graph(), title="t")
    assert "#quot;hi#quot; #lt;now#gt;" in diagram
