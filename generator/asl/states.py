"""Typed Amazon States Language states (JSONPath query language).

Each state is a frozen dataclass that renders itself with ``to_asl()``. A state holds the states it leads to
(``next``, Catch, Choice rules, ``default``), so a scope is collected from its start (``Graph``) and a transition
to a state that is not in the graph cannot be written. Frozen objects cannot form a cycle, so a loop goes back by
name through ``Goto``, which ``generator.asl.graph`` checks against the scope. ``generator.asl.chain`` does the
wiring. A state may carry ``grants`` (the IAM the state machine role needs to run it) and ``substitutions``
(``DefinitionSubstitutions`` entries its fields refer to as ``"${Key}"``); neither is rendered into ASL.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Self, TypeAlias

from generator.iam import Grant

__all__ = [
    "CATCH_ALL",
    "Catch",
    "Chainable",
    "Choice",
    "ChoiceRule",
    "Condition",
    "Fail",
    "FlowState",
    "Goto",
    "Graph",
    "JsonValue",
    "Map",
    "Parallel",
    "Pass",
    "Retry",
    "State",
    "Succeed",
    "Target",
    "Task",
    "Transition",
    "Wait",
]

JsonValue = Any
"""A JSON value that may also hold CloudFormation intrinsics (troposphere objects)."""

CATCH_ALL = "States.ALL"

# ASL's defaults for InputPath/OutputPath/ResultPath. ``None`` renders as JSON null ("discard").
_DOLLAR = "$"


class Chainable(Protocol):
    """What a transition can lead to: a state, or a fragment of states (``generator.asl.chain.Chain``)."""

    @property
    def start(self) -> State: ...


@dataclass(frozen=True, init=False)
class Goto:
    """A transition back to a state of the same scope, by name: a loop, which frozen states cannot hold as objects.

    The graph refuses a ``Goto`` whose state is not reached otherwise in that scope."""

    name: str

    def __init__(self, state: State) -> None:
        object.__setattr__(self, "name", state.name)


def _entry(target: Chainable | Goto) -> Target:
    if isinstance(target, Goto):
        return target
    if not isinstance(getattr(target, "start", None), State):
        raise TypeError(f"a transition leads to a state or a fragment, not {target!r} (a loop goes back with Goto)")
    return target.start


@dataclass(frozen=True)
class Transition:
    """One way out of a state, named as validation reports it: ``Next``, ``Choices[0]``, ``Catch[States.ALL]``."""

    how: str
    target: Target
    errors: tuple[str, ...] = ()  # a Catch's ErrorEquals; empty for Next, Choices and Default

    @property
    def name(self) -> str:
        return self.target.name


@dataclass(frozen=True)
class Retry:
    """One retrier: retry ``error_equals`` with exponential backoff."""

    error_equals: tuple[str, ...]
    interval_seconds: int = 1
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: int | None = None
    jitter_strategy: Literal["FULL", "NONE"] | None = None

    def to_asl(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {
            "ErrorEquals": list(self.error_equals),
            "IntervalSeconds": self.interval_seconds,
            "MaxAttempts": self.max_attempts,
            "BackoffRate": self.backoff_rate,
        }
        if self.max_delay_seconds is not None:
            rendered["MaxDelaySeconds"] = self.max_delay_seconds
        if self.jitter_strategy is not None:
            rendered["JitterStrategy"] = self.jitter_strategy
        return rendered


@dataclass(frozen=True, init=False)
class Catch:
    """One catcher: on ``error_equals`` go to ``next`` (a state, or a fragment's start) with the error at
    ``result_path``."""

    error_equals: tuple[str, ...]
    next: Target
    result_path: str | None

    def __init__(
        self, error_equals: tuple[str, ...], next: Chainable | Goto, result_path: str | None = "$.error"
    ) -> None:
        object.__setattr__(self, "error_equals", error_equals)
        object.__setattr__(self, "next", _entry(next))
        object.__setattr__(self, "result_path", result_path)

    def to_asl(self) -> dict[str, JsonValue]:
        return {"ErrorEquals": list(self.error_equals), "Next": self.next.name, "ResultPath": self.result_path}


@dataclass(frozen=True)
class State:
    """Fields every state has. Subclasses add their own and render them in ``_fields``."""

    name: str
    comment: str | None = field(default=None, kw_only=True)
    grants: tuple[Grant, ...] = field(default=(), kw_only=True, compare=True)
    substitutions: Mapping[str, JsonValue] = field(default_factory=dict, kw_only=True)

    type_name = ""

    @property
    def start(self) -> State:
        """A state is a fragment of one state (``Chainable``)."""
        return self

    @property
    def is_open(self) -> bool:
        """Whether its successor is still to be decided (a flow state with neither Next nor End)."""
        return False

    def to_asl(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {"Type": self.type_name}
        if self.comment:
            rendered["Comment"] = self.comment
        rendered.update(self._fields())
        return rendered

    def _fields(self) -> dict[str, JsonValue]:
        return {}

    def transitions(self) -> tuple[Transition, ...]:
        """Where this state can go within its scope: Next, Choices and Default first, then its Catch rules."""
        return ()

    def children(self) -> tuple[tuple[str, Graph], ...]:
        """Nested scopes (Map processor, Parallel branches) as (label, graph) pairs."""
        return ()

    def continued(self, target: State) -> State:
        """This state leading to ``target`` where its successor was open."""
        raise ValueError(f"{self.name!r} is a {self.type_name} state and cannot continue to {target.name!r}")

    def ended(self) -> State:
        """This state marked ``End: true``."""
        raise ValueError(f"{self.name!r} is a {self.type_name} state and cannot be an End")

    def retargeted(self, replace: Callable[[State], State]) -> Self:
        """This state with every state it leads to replaced by ``replace(target)`` (``Goto`` stays a name)."""
        changes = self._retargeted(replace)
        return dataclasses.replace(self, **changes) if changes else self

    def _retargeted(self, replace: Callable[[State], State]) -> dict[str, Any]:
        return {}


Target: TypeAlias = State | Goto
"""Where a transition leads: a state object, or a ``Goto`` back to one by name."""


def _replaced(target: Target, replace: Callable[[State], State]) -> Target:
    return replace(target) if isinstance(target, State) else target


@dataclass(frozen=True)
class FlowState(State):
    """A state with a single successor: ``next`` or ``end``."""

    next: Target | None = field(default=None, kw_only=True)
    end: bool = field(default=False, kw_only=True)
    input_path: str | None = field(default=_DOLLAR, kw_only=True)
    output_path: str | None = field(default=_DOLLAR, kw_only=True)

    @property
    def is_open(self) -> bool:
        return self.next is None and not self.end

    def _transition(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {}
        if self.input_path != _DOLLAR:
            rendered["InputPath"] = self.input_path
        if self.output_path != _DOLLAR:
            rendered["OutputPath"] = self.output_path
        if self.next is not None:
            rendered["Next"] = self.next.name
        if self.end:
            rendered["End"] = True
        return rendered

    def transitions(self) -> tuple[Transition, ...]:
        return (Transition("Next", self.next),) if self.next is not None else ()

    def continued(self, target: State) -> State:
        return dataclasses.replace(self, next=target)

    def ended(self) -> State:
        return dataclasses.replace(self, end=True)

    def _retargeted(self, replace: Callable[[State], State]) -> dict[str, Any]:
        if self.next is None or (following := _replaced(self.next, replace)) is self.next:
            return {}
        return {"next": following}


@dataclass(frozen=True)
class _Resilient(FlowState):
    """Fields shared by Task, Map and Parallel: result shaping, Retry and Catch."""

    result_selector: Mapping[str, JsonValue] | None = field(default=None, kw_only=True)
    result_path: str | None = field(default=_DOLLAR, kw_only=True)
    retry: tuple[Retry, ...] = field(default=(), kw_only=True)
    catch: tuple[Catch, ...] = field(default=(), kw_only=True)

    def _resilience(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {}
        if self.result_selector is not None:
            rendered["ResultSelector"] = dict(self.result_selector)
        if self.result_path != _DOLLAR:
            rendered["ResultPath"] = self.result_path
        if self.retry:
            rendered["Retry"] = [rule.to_asl() for rule in self.retry]
        if self.catch:
            rendered["Catch"] = [rule.to_asl() for rule in self.catch]
        return rendered

    def transitions(self) -> tuple[Transition, ...]:
        caught = tuple(
            Transition(f"Catch[{','.join(rule.error_equals)}]", rule.next, rule.error_equals) for rule in self.catch
        )
        return super().transitions() + caught

    def _retargeted(self, replace: Callable[[State], State]) -> dict[str, Any]:
        changes = super()._retargeted(replace)
        catch = tuple(dataclasses.replace(rule, next=_replaced(rule.next, replace)) for rule in self.catch)
        if any(new.next is not old.next for new, old in zip(catch, self.catch, strict=True)):
            changes["catch"] = catch
        return changes


@dataclass(frozen=True)
class Task(_Resilient):
    """A Task state. Build service integrations with ``generator.asl.tasks`` so the IAM comes along."""

    resource: JsonValue
    parameters: Mapping[str, JsonValue] | None = field(default=None, kw_only=True)
    timeout_seconds: int | None = field(default=None, kw_only=True)
    # The timeout read from the state input (e.g. a wave's approval timeout); exclusive with timeout_seconds.
    timeout_seconds_path: str | None = field(default=None, kw_only=True)
    heartbeat_seconds: int | None = field(default=None, kw_only=True)

    type_name = "Task"

    def __post_init__(self) -> None:
        if self.timeout_seconds is not None and self.timeout_seconds_path is not None:
            raise ValueError(f"{self.name}: TimeoutSeconds and TimeoutSecondsPath are exclusive")

    def _fields(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {"Resource": self.resource}
        if self.parameters is not None:
            rendered["Parameters"] = dict(self.parameters)
        if self.timeout_seconds is not None:
            rendered["TimeoutSeconds"] = self.timeout_seconds
        if self.timeout_seconds_path is not None:
            rendered["TimeoutSecondsPath"] = self.timeout_seconds_path
        if self.heartbeat_seconds is not None:
            rendered["HeartbeatSeconds"] = self.heartbeat_seconds
        return rendered | self._resilience() | self._transition()


@dataclass(frozen=True)
class Pass(FlowState):
    """A Pass state: reshape input with ``parameters`` or inject a literal ``result``."""

    parameters: Mapping[str, JsonValue] | None = field(default=None, kw_only=True)
    result: JsonValue = field(default=None, kw_only=True)
    result_path: str | None = field(default=_DOLLAR, kw_only=True)

    type_name = "Pass"

    def _fields(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {}
        if self.parameters is not None:
            rendered["Parameters"] = dict(self.parameters)
        if self.result is not None:
            rendered["Result"] = self.result
        if self.result_path != _DOLLAR:
            rendered["ResultPath"] = self.result_path
        return rendered | self._transition()


@dataclass(frozen=True)
class Wait(FlowState):
    """A Wait state: exactly one of seconds, seconds_path, timestamp, timestamp_path."""

    seconds: int | None = field(default=None, kw_only=True)
    seconds_path: str | None = field(default=None, kw_only=True)
    timestamp: str | None = field(default=None, kw_only=True)
    timestamp_path: str | None = field(default=None, kw_only=True)

    type_name = "Wait"

    def __post_init__(self) -> None:
        given = [v for v in (self.seconds, self.seconds_path, self.timestamp, self.timestamp_path) if v is not None]
        if len(given) != 1:
            raise ValueError(
                f"Wait state {self.name!r} needs exactly one of seconds, seconds_path, timestamp, timestamp_path"
            )

    def _fields(self) -> dict[str, JsonValue]:
        candidates = {
            "Seconds": self.seconds,
            "SecondsPath": self.seconds_path,
            "Timestamp": self.timestamp,
            "TimestampPath": self.timestamp_path,
        }
        return {k: v for k, v in candidates.items() if v is not None} | self._transition()


@dataclass(frozen=True)
class Succeed(State):
    """Ends the execution (or the branch/iteration) successfully."""

    type_name = "Succeed"


@dataclass(frozen=True)
class Fail(State):
    """Ends the execution (or the branch/iteration) with an error."""

    error: str | None = field(default=None, kw_only=True)
    cause: str | None = field(default=None, kw_only=True)
    error_path: str | None = field(default=None, kw_only=True)
    cause_path: str | None = field(default=None, kw_only=True)

    type_name = "Fail"

    def _fields(self) -> dict[str, JsonValue]:
        candidates = {
            "Error": self.error,
            "Cause": self.cause,
            "ErrorPath": self.error_path,
            "CausePath": self.cause_path,
        }
        return {k: v for k, v in candidates.items() if v is not None}


@dataclass(frozen=True)
class Condition:
    """A Choice rule's boolean expression: a comparison, or And/Or/Not over other conditions."""

    expression: Mapping[str, JsonValue]

    @staticmethod
    def compare(variable: str, operator: str, value: JsonValue) -> Condition:
        """``{"Variable": variable, operator: value}``, e.g. ``compare("$.n", "NumericGreaterThan", 3)``."""
        return Condition({"Variable": variable, operator: value})

    @staticmethod
    def all_of(*conditions: Condition) -> Condition:
        return Condition({"And": [dict(c.expression) for c in conditions]})

    @staticmethod
    def any_of(*conditions: Condition) -> Condition:
        return Condition({"Or": [dict(c.expression) for c in conditions]})

    @staticmethod
    def negate(condition: Condition) -> Condition:
        return Condition({"Not": dict(condition.expression)})


@dataclass(frozen=True, init=False)
class ChoiceRule:
    """If ``condition`` holds, go to ``next`` (a state, a fragment's start, or ``Goto`` back to an earlier state)."""

    condition: Condition
    next: Target

    def __init__(self, condition: Condition, next: Chainable | Goto) -> None:
        object.__setattr__(self, "condition", condition)
        object.__setattr__(self, "next", _entry(next))

    def to_asl(self) -> dict[str, JsonValue]:
        return dict(self.condition.expression) | {"Next": self.next.name}


@dataclass(frozen=True)
class Choice(State):
    """Branches on the first matching rule, else ``default``. ``generator.asl.chain.branch`` builds one."""

    choices: tuple[ChoiceRule, ...] = field(default=(), kw_only=True)
    default: Target | None = field(default=None, kw_only=True)
    input_path: str | None = field(default=_DOLLAR, kw_only=True)
    output_path: str | None = field(default=_DOLLAR, kw_only=True)

    type_name = "Choice"

    def _fields(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {"Choices": [rule.to_asl() for rule in self.choices]}
        if self.default is not None:
            rendered["Default"] = self.default.name
        if self.input_path != _DOLLAR:
            rendered["InputPath"] = self.input_path
        if self.output_path != _DOLLAR:
            rendered["OutputPath"] = self.output_path
        return rendered

    def transitions(self) -> tuple[Transition, ...]:
        rules = tuple(Transition(f"Choices[{index}]", rule.next) for index, rule in enumerate(self.choices))
        return rules + ((Transition("Default", self.default),) if self.default is not None else ())

    def continued(self, target: State) -> State:
        return dataclasses.replace(self, default=target)

    def _retargeted(self, replace: Callable[[State], State]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        choices = tuple(dataclasses.replace(rule, next=_replaced(rule.next, replace)) for rule in self.choices)
        if any(new.next is not old.next for new, old in zip(choices, self.choices, strict=True)):
            changes["choices"] = choices
        if self.default is not None and (default := _replaced(self.default, replace)) is not self.default:
            changes["default"] = default
        return changes


@dataclass(frozen=True)
class Graph:
    """One scope of states: the whole machine, a Map's processor or a Parallel branch, collected from ``start``."""

    start: State
    states: tuple[State, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "states", _collect(self.start))

    def to_asl(self) -> dict[str, JsonValue]:
        return {"StartAt": self.start.name, "States": {state.name: state.to_asl() for state in self.states}}


def _collect(start: State) -> tuple[State, ...]:
    """Every state ``start`` leads to: the flow depth first, then what only a Catch reaches, catch-all targets
    (a scope's failure exit) before handlers of specific errors. The order is only the diagram's.

    Equal states are one state (converging branches share a tail); two different states with one name are both
    kept, for validation to refuse."""
    found: list[State] = []
    visited: set[int] = set()
    caught: list[tuple[bool, int, State]] = []  # (handles specific errors only, order reached, target)
    reached = itertools.count()

    def visit(state: State) -> None:
        if id(state) in visited:
            return
        visited.add(id(state))
        if any(other == state for other in found if other.name == state.name):
            return
        found.append(state)
        flow = []
        for transition in state.transitions():
            if not isinstance(transition.target, State):
                continue  # a Goto names a state that must be reached otherwise
            if transition.errors:
                heapq.heappush(caught, (CATCH_ALL not in transition.errors, next(reached), transition.target))
            else:
                flow.append(transition.target)
        for target in flow:
            visit(target)

    visit(start)
    while caught:
        visit(heapq.heappop(caught)[2])
    return tuple(found)


@dataclass(frozen=True)
class Map(_Resilient):
    """A Map state. ``mode="DISTRIBUTED"`` runs each item as a child workflow execution."""

    processor: Graph
    items_path: str | None = field(default=None, kw_only=True)
    item_selector: Mapping[str, JsonValue] | None = field(default=None, kw_only=True)
    max_concurrency: int | None = field(default=None, kw_only=True)
    max_concurrency_path: str | None = field(default=None, kw_only=True)
    mode: Literal["INLINE", "DISTRIBUTED"] = field(default="INLINE", kw_only=True)
    execution_type: Literal["STANDARD", "EXPRESS"] | None = field(default=None, kw_only=True)
    # An integer: AWS's ASL schema refuses 100.0 ("Expected integer").
    tolerated_failure_percentage: int | None = field(default=None, kw_only=True)
    label: str | None = field(default=None, kw_only=True)

    type_name = "Map"

    def __post_init__(self) -> None:
        if self.mode == "INLINE" and (self.execution_type or self.tolerated_failure_percentage is not None):
            raise ValueError(f"Map {self.name!r}: execution_type/tolerance apply to DISTRIBUTED maps only")
        if self.mode == "DISTRIBUTED" and self.execution_type is None:
            raise ValueError(f"Map {self.name!r}: a DISTRIBUTED map needs execution_type")
        if self.max_concurrency is not None and self.max_concurrency_path is not None:
            raise ValueError(f"Map {self.name!r}: give max_concurrency or max_concurrency_path, not both")

    def _fields(self) -> dict[str, JsonValue]:
        processor_config: dict[str, JsonValue] = {"Mode": self.mode}
        if self.execution_type is not None:
            processor_config["ExecutionType"] = self.execution_type
        rendered: dict[str, JsonValue] = {
            "ItemProcessor": {"ProcessorConfig": processor_config} | self.processor.to_asl()
        }
        if self.items_path is not None:
            rendered["ItemsPath"] = self.items_path
        if self.item_selector is not None:
            rendered["ItemSelector"] = dict(self.item_selector)
        if self.max_concurrency is not None:
            rendered["MaxConcurrency"] = self.max_concurrency
        if self.max_concurrency_path is not None:
            rendered["MaxConcurrencyPath"] = self.max_concurrency_path
        if self.tolerated_failure_percentage is not None:
            rendered["ToleratedFailurePercentage"] = self.tolerated_failure_percentage
        if self.label is not None:
            rendered["Label"] = self.label
        return rendered | self._resilience() | self._transition()

    def children(self) -> tuple[tuple[str, Graph], ...]:
        return (("ItemProcessor", self.processor),)


@dataclass(frozen=True)
class Parallel(_Resilient):
    """Runs each branch on the same input; the output is the list of branch outputs."""

    branches: tuple[Graph, ...]
    parameters: Mapping[str, JsonValue] | None = field(default=None, kw_only=True)

    type_name = "Parallel"

    def _fields(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {"Branches": [branch.to_asl() for branch in self.branches]}
        if self.parameters is not None:
            rendered["Parameters"] = dict(self.parameters)
        return rendered | self._resilience() | self._transition()

    def children(self) -> tuple[tuple[str, Graph], ...]:
        return tuple((f"Branches[{index}]", branch) for index, branch in enumerate(self.branches))
