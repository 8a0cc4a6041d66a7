"""Compose states into fragments with one start and explicit open ends (after CDK's ``Chain``).

>>> body = chain(record_started, waves, record_finished, Succeed("RunSucceeded"))

``then`` points every open end of a chain at the next part's start; ``branch`` builds a Choice whose rules lead
into sub-chains. States reached only by a Catch need no wiring: the graph collects whatever a state leads to.
Nothing is closed implicitly: a state left open fails graph validation, so every ``End`` is a decision in the code.

States are frozen, so continuing an end rebuilds every state that leads to it: hold on to the chain, not to a
state taken out of it before it was continued (validation refuses the stale copy as a second state of that name).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from generator.asl.states import Choice, ChoiceRule, Condition, Goto, Graph, State

__all__ = ["Chain", "branch", "chain"]


@dataclass(frozen=True)
class Chain:
    """A fragment: its ``start`` (every state of it is reached from there) and the names of its open ends."""

    start: State
    ends: tuple[str, ...]

    @staticmethod
    def of(part: State | Chain) -> Chain:
        """A chain of one state (open if it is a flow state without Next/End), or the chain itself."""
        if isinstance(part, Chain):
            return part
        return Chain(part, (part.name,) if part.is_open else ())

    @property
    def states(self) -> tuple[State, ...]:
        """Every state of the fragment, in the graph's order."""
        return self.graph().states

    def then(self, part: State | Chain) -> Chain:
        """Continue every open end with ``part``."""
        following = Chain.of(part)
        if not self.ends:
            raise ValueError(
                f"chain starting at {self.start.name!r} has no open end to continue with {following.start.name!r}"
            )
        return Chain(_rebuilt(self.start, self.ends, lambda end: end.continued(following.start)), following.ends)

    def close(self) -> Chain:
        """Mark every open end as ``End: true``."""
        return Chain(_rebuilt(self.start, self.ends, lambda end: end.ended()), ())

    def graph(self) -> Graph:
        """The scope these states form (validated by ``generator.asl.graph.validate``)."""
        return Graph(self.start)


def chain(first: State | Chain, *rest: State | Chain) -> Chain:
    """``first`` then each of ``rest`` in order."""
    result = Chain.of(first)
    for part in rest:
        result = result.then(part)
    return result


def branch(
    name: str,
    rules: Sequence[tuple[Condition, State | Chain | Goto]],
    *,
    otherwise: State | Chain | None = None,
    comment: str | None = None,
) -> Chain:
    """A Choice named ``name``: the first rule that holds leads into its chain, else ``otherwise``.

    Without ``otherwise`` the Choice's Default stays open and joins whatever the result is continued with, so
    "if X, do these steps first" reads as ``branch(..., [(x, steps)]).then(rest)``. A rule whose target is a
    ``Goto`` jumps back to a state already in the enclosing chain: that is how loops are written.
    """
    targets = [target if isinstance(target, Goto) else Chain.of(target) for _, target in rules]
    default = Chain.of(otherwise) if otherwise is not None else None
    choice = Choice(
        name,
        choices=tuple(ChoiceRule(condition, target) for (condition, _), target in zip(rules, targets, strict=True)),
        default=default.start if default is not None else None,
        comment=comment,
    )
    ends = [] if default is not None else [name]
    for part in [*targets, default]:
        if isinstance(part, Chain):
            ends.extend(end for end in part.ends if end not in ends)
    return Chain(choice, tuple(ends))


def _rebuilt(start: State, ends: tuple[str, ...], finish: Callable[[State], State]) -> State:
    """``start`` with ``finish`` applied to each open end, and every state leading to one rebuilt to hold it."""
    rebuilt: dict[int, State] = {}

    def rebuild(state: State) -> State:
        if id(state) not in rebuilt:
            onward = state.retargeted(rebuild)
            rebuilt[id(state)] = finish(onward) if state.name in ends else onward
        return rebuilt[id(state)]

    return rebuild(start)
