"""Build-time validation of a state graph, and the state machine definition that comes out of it.

The Step Functions API would reject most of these mistakes only at deploy time (and cfn-lint misses a ``Next``
that points nowhere), so the generator refuses them while building, naming the state by its path:
``Waves/ItemProcessor/Discover``. States are collected from the start of each scope, so none is unreachable and
only a ``Goto`` can name a state that is missing; two different states with one name are refused wherever they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from generator.asl.states import CATCH_ALL, Choice, FlowState, Graph, JsonValue, State
from generator.iam import Grant, canonical, merge_grants

__all__ = ["MAX_STATE_NAME_LENGTH", "GraphError", "StateMachineDefinition", "validate", "walk"]

MAX_STATE_NAME_LENGTH = 80


class GraphError(ValueError):
    """The state graph is not a valid Amazon States Language definition."""


def validate(graph: Graph) -> None:
    """Raise ``GraphError`` listing every problem found, each naming its state path."""
    problems = [*_duplicate_names(graph), *_problems(graph, ())]
    if problems:
        raise GraphError("invalid state graph:\n  " + "\n  ".join(problems))


def _problems(graph: Graph, scope: tuple[str, ...]) -> Iterator[str]:
    where = "/".join(scope) or "(top level)"
    names = {state.name for state in graph.states}
    for state in graph.states:
        path = _path(scope, state.name)
        if not state.name or len(state.name) > MAX_STATE_NAME_LENGTH:
            yield f"{path}: state names must be 1 to {MAX_STATE_NAME_LENGTH} characters (got {len(state.name)})"
        if isinstance(state, FlowState):
            if state.next is None and not state.end:
                yield f"{path}: non-terminal {state.type_name} state has neither Next nor End"
            if state.next is not None and state.end:
                yield f"{path}: has both Next and End"
        if isinstance(state, Choice) and not state.choices:
            yield f"{path}: Choice state has no rules"
        # Only a Goto can name a state outside the scope: every state object a transition holds is collected.
        for transition in state.transitions():
            if transition.name not in names:
                yield f"{path}: {transition.how} target {transition.name!r} does not exist in {where}"
        yield from _error_rule_problems(state, path)
        for label, child in state.children():
            yield from _problems(child, (*scope, state.name, label))


def _duplicate_names(graph: Graph) -> Iterator[str]:
    """State names must be unique in the whole machine, nested scopes included (an ASL rule)."""
    paths: dict[str, list[str]] = {}
    for path, state in _walk_with_paths(graph, ()):
        paths.setdefault(state.name, []).append(path)
    for name, where in sorted(paths.items()):
        if len(where) > 1:
            yield f"{where[0]}: duplicate state name {name!r} (also at {', '.join(where[1:])})"


def _walk_with_paths(graph: Graph, scope: tuple[str, ...]) -> Iterator[tuple[str, State]]:
    for state in graph.states:
        yield _path(scope, state.name), state
        for label, child in state.children():
            yield from _walk_with_paths(child, (*scope, state.name, label))


def _error_rule_problems(state: State, path: str) -> Iterator[str]:
    for field_name in ("retry", "catch"):
        rules = getattr(state, field_name, ())
        for index, rule in enumerate(rules):
            if not rule.error_equals:
                yield f"{path}: {field_name}[{index}] has an empty ErrorEquals"
            if CATCH_ALL in rule.error_equals and (len(rule.error_equals) > 1 or index != len(rules) - 1):
                yield f"{path}: {field_name}[{index}]: {CATCH_ALL} must stand alone in the last rule"


def _path(scope: tuple[str, ...], name: str) -> str:
    return "/".join((*scope, name))


def walk(graph: Graph) -> Iterator[State]:
    """Every state in the graph, nested scopes included, parents before children."""
    for _, state in _walk_with_paths(graph, ()):
        yield state


@dataclass(frozen=True)
class StateMachineDefinition:
    """A validated workflow: the ASL object, its ``DefinitionSubstitutions`` and the IAM its tasks need."""

    graph: Graph
    comment: str
    timeout_seconds: int

    def __post_init__(self) -> None:
        validate(self.graph)
        self.substitutions()  # refuse conflicting substitutions at build time, not deploy time

    def to_asl(self) -> dict[str, JsonValue]:
        return {"Comment": self.comment, "TimeoutSeconds": self.timeout_seconds} | self.graph.to_asl()

    def grants(self) -> tuple[Grant, ...]:
        return merge_grants(grant for state in walk(self.graph) for grant in state.grants)

    def substitutions(self) -> dict[str, Any]:
        collected: dict[str, Any] = {}
        for state in walk(self.graph):
            for key, value in state.substitutions.items():
                if key in collected and canonical(collected[key]) != canonical(value):
                    raise GraphError(f"{state.name}: substitution ${{{key}}} bound to two different values")
                collected[key] = value
        return dict(sorted(collected.items()))
