"""Typed Amazon States Language states (JSONPath query language).

Each state is a frozen dataclass that renders itself with ``to_asl()``. States name their successors by
string; ``generator.asl.chain`` wires those names for you and ``generator.asl.graph`` checks them.
A state may carry ``grants`` (the IAM the state machine role needs to run it) and ``substitutions``
(``DefinitionSubstitutions`` entries its fields refer to as ``"${Key}"``); neither is rendered into ASL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from generator.iam import Grant

JsonValue = Any
"""A JSON value that may also hold CloudFormation intrinsics (troposphere objects)."""

# ASL's defaults for InputPath/OutputPath/ResultPath. ``None`` renders as JSON null ("discard").
_DOLLAR = "$"


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


@dataclass(frozen=True)
class Catch:
    """One catcher: on ``error_equals`` go to ``next`` with the error placed at ``result_path``."""

    error_equals: tuple[str, ...]
    next: str
    result_path: str | None = "$.error"

    def to_asl(self) -> dict[str, JsonValue]:
        return {"ErrorEquals": list(self.error_equals), "Next": self.next, "ResultPath": self.result_path}


@dataclass(frozen=True)
class State:
    """Fields every state has. Subclasses add their own and render them in ``_fields``."""

    name: str
    comment: str | None = field(default=None, kw_only=True)
    grants: tuple[Grant, ...] = field(default=(), kw_only=True, compare=True)
    substitutions: Mapping[str, JsonValue] = field(default_factory=dict, kw_only=True)

    type_name = ""
    terminal = False  # Succeed/Fail: never a Next
    branching = False  # Choice: successors come from its rules

    def to_asl(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {"Type": self.type_name}
        if self.comment:
            rendered["Comment"] = self.comment
        rendered.update(self._fields())
        return rendered

    def _fields(self) -> dict[str, JsonValue]:
        return {}

    def successors(self) -> tuple[tuple[str, str], ...]:
        """Pairs of (how, target name) this state can transition to within its scope."""
        return ()

    def children(self) -> tuple[tuple[str, Any], ...]:
        """Nested scopes (Map processor, Parallel branches) as (label, graph) pairs."""
        return ()


@dataclass(frozen=True)
class _Flow(State):
    """A state with a single successor: ``next`` or ``end``."""

    next: str | None = field(default=None, kw_only=True)
    end: bool = field(default=False, kw_only=True)
    input_path: str | None = field(default=_DOLLAR, kw_only=True)
    output_path: str | None = field(default=_DOLLAR, kw_only=True)

    def _transition(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {}
        if self.input_path != _DOLLAR:
            rendered["InputPath"] = self.input_path
        if self.output_path != _DOLLAR:
            rendered["OutputPath"] = self.output_path
        if self.next is not None:
            rendered["Next"] = self.next
        if self.end:
            rendered["End"] = True
        return rendered

    def successors(self) -> tuple[tuple[str, str], ...]:
        return (("Next", self.next),) if self.next is not None else ()


@dataclass(frozen=True)
class _Resilient(_Flow):
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

    def successors(self) -> tuple[tuple[str, str], ...]:
        caught = tuple((f"Catch[{','.join(rule.error_equals)}]", rule.next) for rule in self.catch)
        return super().successors() + caught


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
class Pass(_Flow):
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
class Wait(_Flow):
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
    terminal = True


@dataclass(frozen=True)
class Fail(State):
    """Ends the execution (or the branch/iteration) with an error."""

    error: str | None = field(default=None, kw_only=True)
    cause: str | None = field(default=None, kw_only=True)
    error_path: str | None = field(default=None, kw_only=True)
    cause_path: str | None = field(default=None, kw_only=True)

    type_name = "Fail"
    terminal = True

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


@dataclass(frozen=True)
class ChoiceRule:
    """If ``condition`` holds, go to ``next``."""

    condition: Condition
    next: str

    def to_asl(self) -> dict[str, JsonValue]:
        return dict(self.condition.expression) | {"Next": self.next}


@dataclass(frozen=True)
class Choice(State):
    """Branches on the first matching rule, else ``default``."""

    choices: tuple[ChoiceRule, ...] = field(default=(), kw_only=True)
    default: str | None = field(default=None, kw_only=True)
    input_path: str | None = field(default=_DOLLAR, kw_only=True)
    output_path: str | None = field(default=_DOLLAR, kw_only=True)

    type_name = "Choice"
    branching = True

    def _fields(self) -> dict[str, JsonValue]:
        rendered: dict[str, JsonValue] = {"Choices": [rule.to_asl() for rule in self.choices]}
        if self.default is not None:
            rendered["Default"] = self.default
        if self.input_path != _DOLLAR:
            rendered["InputPath"] = self.input_path
        if self.output_path != _DOLLAR:
            rendered["OutputPath"] = self.output_path
        return rendered

    def successors(self) -> tuple[tuple[str, str], ...]:
        rules = tuple((f"Choices[{index}]", rule.next) for index, rule in enumerate(self.choices))
        return rules + ((("Default", self.default),) if self.default is not None else ())


@dataclass(frozen=True)
class Graph:
    """One scope of states: the whole machine, a Map's processor or a Parallel branch."""

    start_at: str
    states: tuple[State, ...]

    def to_asl(self) -> dict[str, JsonValue]:
        return {"StartAt": self.start_at, "States": {state.name: state.to_asl() for state in self.states}}


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
    tolerated_failure_percentage: float | None = field(default=None, kw_only=True)
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
            rendered["ToleratedFailurePercentage"] = float(self.tolerated_failure_percentage)
        if self.label is not None:
            rendered["Label"] = self.label
        return rendered | self._resilience() | self._transition()

    def children(self) -> tuple[tuple[str, Any], ...]:
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

    def children(self) -> tuple[tuple[str, Any], ...]:
        return tuple((f"Branches[{index}]", branch) for index, branch in enumerate(self.branches))
