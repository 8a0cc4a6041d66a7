"""Build-time validation of a state graph, and the state machine definition that comes out of it.

The Step Functions API would reject most of these mistakes only at deploy time (and cfn-lint misses a ``Next``
that points nowhere), so the generator refuses them while building, naming the state by its path:
``Waves/ItemProcessor/Discover``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from generator.asl.states import Graph, JsonValue, State, _Flow
from generator.iam import Grant, canonical, merge_grants

MAX_STATE_NAME_LENGTH = 80
CATCH_ALL = "States.ALL"


class GraphError(ValueError):
    """The state graph is not a valid Amazon States Language definition."""


def validate(graph: Graph) -> None:
    """Raise ``GraphError`` for the first problem found, naming the state path."""
    problems = [*_duplicate_names(graph), *_problems(graph, ())]
    if problems:
        raise GraphError("invalid state graph:\n  " + "\n  ".join(problems))


def _problems(graph: Graph, scope: tuple[str, ...]) -> Iterator[str]:
    where = "/".join(scope) or "(top level)"
    states = {state.name: state for state in graph.states}
    if graph.start_at not in states:
        yield f"{where}: StartAt {graph.start_at!r} does not exist in this scope"
    for state in graph.states:
        path = _path(scope, state.name)
        if not state.name or len(state.name) > MAX_STATE_NAME_LENGTH:
            yield f"{path}: state names must be 1 to {MAX_STATE_NAME_LENGTH} characters (got {len(state.name)})"
        if isinstance(state, _Flow):
            if state.next is None and not state.end:
                yield f"{path}: non-terminal {state.type_name} state has neither Next nor End"
            if state.next is not None and state.end:
                yield f"{path}: has both Next and End"
        if state.branching and not state.successors():
            yield f"{path}: Choice state has no rules"
        for how, target in state.successors():
            if target not in states:
                yield f"{path}: {how} target {target!r} does not exist in {where}"
        yield from _error_rule_problems(state, path)
        for label, child in state.children():
            yield from _problems(child, (*scope, state.name, label))
    reachable = _reachable(graph.start_at, states)
    for state in graph.states:
        if state.name not in reachable and graph.start_at in states:
            yield f"{_path(scope, state.name)}: unreachable from {graph.start_at!r}"


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


def _reachable(start: str, states: Mapping[str, State]) -> set[str]:
    seen: set[str] = set()
    pending = [start]
    while pending:
        name = pending.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        pending.extend(target for _, target in states[name].successors())
    return seen


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
