"""Compose states into fragments with one start and explicit open ends (after CDK's ``Chain``).

>>> body = chain(record_started, waves, record_finished, Succeed("RunSucceeded"))

``then`` points every open end of a chain at the next part's start; ``branch`` builds a Choice whose rules lead
into sub-chains; ``include`` adds states reached only by Catch (recording/failure paths). Nothing is closed
implicitly: a state left open fails graph validation, so every ``End`` is a decision in the code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from generator.asl.states import Choice, ChoiceRule, Condition, Graph, State, _Flow


@dataclass(frozen=True)
class Chain:
    """States with a start and the names of the states whose successor is still open."""

    start: str
    states: tuple[State, ...]
    ends: tuple[str, ...]

    @staticmethod
    def of(part: State | Chain) -> Chain:
        """A chain of one state (open if it is a flow state without Next/End), or the chain itself."""
        if isinstance(part, Chain):
            return part
        is_open = isinstance(part, _Flow) and part.next is None and not part.end
        return Chain(part.name, (part,), (part.name,) if is_open else ())

    def then(self, part: State | Chain) -> Chain:
        """Continue every open end with ``part``."""
        following = Chain.of(part)
        if not self.ends:
            raise ValueError(f"chain starting at {self.start!r} has no open end to continue with {following.start!r}")
        wired = tuple(_connect(state, following.start) if state.name in self.ends else state for state in self.states)
        return Chain(self.start, _merge(wired, following.states), following.ends)

    def include(self, *parts: State | Chain) -> Chain:
        """Add states reached from elsewhere (Catch targets); the open ends stay those of this chain."""
        states = self.states
        for part in parts:
            states = _merge(states, Chain.of(part).states)
        return Chain(self.start, states, self.ends)

    def close(self) -> Chain:
        """Mark every open end as ``End: true``."""
        closed = tuple(_close(state) if state.name in self.ends else state for state in self.states)
        return Chain(self.start, closed, ())

    def graph(self) -> Graph:
        """The scope these states form (validated by ``generator.asl.graph.validate``)."""
        return Graph(self.start, self.states)


def chain(first: State | Chain, *rest: State | Chain) -> Chain:
    """``first`` then each of ``rest`` in order."""
    result = Chain.of(first)
    for part in rest:
        result = result.then(part)
    return result


def branch(
    name: str,
    rules: Sequence[tuple[Condition, State | Chain | str]],
    *,
    otherwise: State | Chain | None = None,
    comment: str | None = None,
) -> Chain:
    """A Choice named ``name``: the first rule that holds leads into its chain, else ``otherwise``.

    Without ``otherwise`` the Choice's Default stays open and joins whatever the result is continued with, so
    "if X, do these steps first" reads as ``branch(..., [(x, steps)]).then(rest)``. A rule whose target is a
    state *name* jumps back to a state already in the enclosing chain: that is how loops are written.
    """
    targets = [part if isinstance(part, str) else Chain.of(part) for _, part in rules]
    default = Chain.of(otherwise) if otherwise is not None else None
    choice = Choice(
        name,
        choices=tuple(
            ChoiceRule(condition, target if isinstance(target, str) else target.start)
            for (condition, _), target in zip(rules, targets, strict=True)
        ),
        default=default.start if default is not None else None,
        comment=comment,
    )
    states: tuple[State, ...] = (choice,)
    ends: list[str] = [] if default is not None else [name]
    chains = [target for target in targets if isinstance(target, Chain)]
    for target in [*chains, *([default] if default is not None else [])]:
        states = _merge(states, target.states)
        ends.extend(end for end in target.ends if end not in ends)
    return Chain(name, states, tuple(ends))


def _close(state: State) -> State:
    if not isinstance(state, _Flow):
        raise ValueError(f"{state.name!r} is a {state.type_name} state and cannot be an End")
    return dataclasses.replace(state, end=True)


def _connect(state: State, target: str) -> State:
    if isinstance(state, Choice):
        return dataclasses.replace(state, default=target)
    if isinstance(state, _Flow):
        return dataclasses.replace(state, next=target)
    raise ValueError(f"{state.name!r} is a {state.type_name} state and cannot continue to {target!r}")


def _merge(left: tuple[State, ...], right: tuple[State, ...]) -> tuple[State, ...]:
    """Concatenate, dropping states identical to one already present (converging branches share tails)."""
    merged = list(left)
    for state in right:
        if state not in merged:
            merged.append(state)
    return tuple(merged)
