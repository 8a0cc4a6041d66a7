"""The Mermaid diagram is generated from the same graph as the state machine."""

from __future__ import annotations

import re

from generator.asl.chain import branch, chain
from generator.asl.diagram import mermaid
from generator.asl.graph import walk
from generator.asl.states import Catch, Condition, Fail, Map, Pass, Succeed, Task
from generator.hub import build_hub


def test_every_state_of_the_hub_workflow_is_drawn_once() -> None:
    hub = build_hub()
    diagram = mermaid(hub.workflow.graph, title="Hub")

    for state in walk(hub.workflow.graph):
        assert len(re.findall(rf'"{re.escape(state.name)}(<br/>| · |")', diagram)) == 1, state.name


def test_transitions_choices_catches_and_map_scopes_are_drawn() -> None:
    inner = chain(Pass("PlanWave")).close().graph()
    work = Task("Work", "arn", catch=(Catch(("States.ALL",), "Failed"),))
    body = chain(
        branch("Ready?", [(Condition.compare("$.ready", "BooleanEquals", True), Pass("Go"))]),
        Map("Waves", inner, max_concurrency=1),
        work,
        Succeed("Done"),
    ).include(Fail("Failed", error="Boom"))

    diagram = mermaid(body.graph(), title="Example")

    assert diagram.startswith("# Example\n")
    assert "```mermaid\nflowchart TD\n" in diagram
    assert 'subgraph n3["Waves · Map, max 1 at a time"]' in diagram
    assert "n3_start((each)) --> n4" in diagram
    assert 'n1 -->|"$.ready BooleanEquals true"| n2' in diagram
    assert 'n1 -->|"otherwise"| n3' in diagram
    assert 'n5 -.->|"States.ALL"| n7' in diagram
    assert "start --> n1" in diagram


def test_labels_escape_characters_that_would_break_mermaid() -> None:
    diagram = mermaid(chain(Pass('Say "hi" <now>', end=True)).graph(), title="t")
    assert "#quot;hi#quot; #lt;now#gt;" in diagram
