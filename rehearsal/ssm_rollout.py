"""How SSM Run Command rolls one command out over its instances, as a discrete-event model (no AWS, no moto).

Each command has its own timeline, in seconds since its send: ``Rollout.start`` plays it out once (it is
deterministic for its inputs), and the simulated fleet asks what any invocation looks like at any moment of it.
So concurrent executions never share one clock: each asks about its own command at its own time.

What it follows, from the SSM user guide ("Run commands at scale", "Understanding command statuses") and the
SendCommand API reference:

- MaxConcurrency: at most that many instances run at once (a count, or a percentage of the targets rounded down
  and at least one); the next queued instance starts when one finishes. SSM first sends to one instance and
  sends to exponentially more after each acknowledgement until MaxConcurrency is met.
- MaxErrors: once the errors (Failed and ExecutionTimedOut; delivery timeouts do not count) exceed it, SSM
  sends to no more instances. Those already running finish; those never started end ``Terminated``, and the
  command ends Failed.
- TimeoutSeconds (delivery timeout) counts from the send: an instance still queued when it runs out is never
  started and ends ``DeliveryTimedOut``; so does an instance whose agent never picks the command up.
- The execution timeout counts from an instance's start: a run longer than it ends ``ExecutionTimedOut``.
- CancelCommand: every invocation not yet finished ends ``Cancelled``.
"""

from __future__ import annotations

import enum
import heapq
import math
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from handlers.contract.rollout import rate_count

# How long SSM takes to acknowledge a wave of sends before sending to the next, larger one (the user guide gives
# no figure; seconds, against patches of minutes).
ACKNOWLEDGE_SECONDS = 5.0

# StatusDetails -> Status. The CommandInvocationStatus enum has no DeliveryTimedOut, ExecutionTimedOut,
# Undeliverable or Terminated; which Status SSM shows for Terminated is not documented (the handlers read
# StatusDetails).
STATUS_OF = {
    "Pending": "Pending",
    "InProgress": "InProgress",
    "Delayed": "Delayed",
    "Success": "Success",
    "Failed": "Failed",
    "ExecutionTimedOut": "TimedOut",
    "DeliveryTimedOut": "TimedOut",
    "Cancelled": "Cancelled",
    "Terminated": "Failed",
}
ERRORS = frozenset({"Failed", "ExecutionTimedOut"})  # what counts against MaxErrors
WAITING = frozenset({"Pending", "InProgress", "Delayed"})


class Outcome(enum.Enum):
    """How one instance answers the command if SSM starts it."""

    SUCCESS = "Success"
    FAILED = "Failed"
    HANGS = "Hangs"  # runs until the execution timeout stops it
    UNREACHABLE = "Unreachable"  # the agent never picks the command up (ConnectionLost)


@dataclass(frozen=True)
class Invocation:
    """One instance's invocation at one moment of its command's timeline (seconds since the send)."""

    instance_id: str
    status: str
    status_details: str
    started_at: float | None
    ended_at: float | None

    @property
    def finished(self) -> bool:
        return self.ended_at is not None


@dataclass(frozen=True)
class Transition:
    """An invocation entering a state: what SSM's status-change events report."""

    at: float
    instance_id: str
    status_details: str


@dataclass
class _Track:
    started_at: float | None = None
    ended_at: float | None = None
    final: str = "Pending"
    queued_details: str = "Pending"  # while started but not running: Delayed for an unreachable agent


@dataclass
class Rollout:
    """One command's rollout. Build it with ``Rollout.start``."""

    instance_ids: tuple[str, ...]
    concurrency: int
    max_errors: int
    delivery_timeout_seconds: float
    execution_timeout_seconds: float
    durations: Mapping[str, float]
    outcomes: Mapping[str, Outcome]
    acknowledge_seconds: float = ACKNOWLEDGE_SECONDS
    cancelled_at: float | None = None
    stopped_at: float | None = None  # when the errors exceeded MaxErrors
    _tracks: dict[str, _Track] = field(default_factory=dict, repr=False)
    _cursor: float | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        instances: Sequence[str],
        *,
        max_concurrency: str,
        max_errors: str,
        delivery_timeout_seconds: float,
        execution_timeout_seconds: float,
        durations: Mapping[str, float],
        outcomes: Mapping[str, Outcome] | None = None,
        acknowledge_seconds: float = ACKNOWLEDGE_SECONDS,
    ) -> Rollout:
        """The rollout of a command sent at time 0 to ``instances`` (in the order SSM takes them)."""
        timed = (Outcome.SUCCESS, Outcome.FAILED)
        missing = [i for i in instances if i not in durations and (outcomes or {}).get(i, Outcome.SUCCESS) in timed]
        if missing:
            raise ValueError(f"durations: no duration for {', '.join(missing)}")
        rollout = cls(
            instance_ids=tuple(instances),
            concurrency=rate_count(max_concurrency, len(instances), minimum=1),
            max_errors=rate_count(max_errors, len(instances), minimum=0),
            delivery_timeout_seconds=delivery_timeout_seconds,
            execution_timeout_seconds=execution_timeout_seconds,
            durations=dict(durations),
            outcomes=dict(outcomes or {}),
            acknowledge_seconds=acknowledge_seconds,
        )
        rollout._play()
        return rollout

    # Asking about the timeline ------------------------------------------------------------------------------

    def invocation_at(self, instance_id: str, at: float) -> Invocation:
        track = self._tracks[instance_id]
        if track.ended_at is not None and at >= track.ended_at:
            details = track.final
        elif track.started_at is not None and at >= track.started_at:
            details = track.queued_details if track.queued_details == "Delayed" else "InProgress"
        else:
            details = "Pending"
        return Invocation(
            instance_id,
            STATUS_OF[details],
            details,
            track.started_at if track.started_at is not None and at >= track.started_at else None,
            track.ended_at if details not in WAITING else None,
        )

    def invocations_at(self, at: float) -> list[Invocation]:
        """Every invocation as SSM reports it ``at`` seconds after the send."""
        return [self.invocation_at(instance_id, at) for instance_id in self.instance_ids]

    @property
    def finished_at(self) -> float:
        """When the last invocation reaches a terminal state (0 for a command with no instances)."""
        return max((track.ended_at or 0.0 for track in self._tracks.values()), default=0.0)

    def command_status_at(self, at: float) -> tuple[str, str]:
        """The command's (Status, StatusDetails) ``at`` seconds after the send."""
        details = [invocation.status_details for invocation in self.invocations_at(at)]
        if any(d in WAITING for d in details):
            if self.cancelled_at is not None and at >= self.cancelled_at:
                return "Cancelling", "Cancelling"
            return ("Pending", "Pending") if all(d == "Pending" for d in details) else ("InProgress", "InProgress")
        if self.cancelled_at is not None:
            return "Cancelled", "Cancelled"
        if self.stopped_at is not None:
            return "Failed", "Failed"
        if all(d == "Success" for d in details):
            return "Success", "Success"
        # Attempted everywhere, not all succeeded, errors within MaxErrors: Incomplete. Its Status is not
        # documented; Failed is the harsher reading.
        return "Failed", "Incomplete"

    def transitions(self) -> list[Transition]:
        """Every state change of the timeline, in time order."""
        changes: list[Transition] = []
        for instance_id in self.instance_ids:
            track = self._tracks[instance_id]
            if track.started_at is not None and track.started_at != track.ended_at:
                running = "Delayed" if track.queued_details == "Delayed" else "InProgress"
                changes.append(Transition(track.started_at, instance_id, running))
            if track.ended_at is not None:
                changes.append(Transition(track.ended_at, instance_id, track.final))
        return sorted(changes, key=lambda change: change.at)  # stable: instance order within one moment

    def advance_to(self, at: float) -> list[Transition]:
        """The changes since the last call (the first call includes those at the send), up to and including
        ``at``: the command's own clock, which moves only when its own execution asks."""
        if self._cursor is not None and at < self._cursor:
            raise ValueError(f"the command's clock is at {self._cursor} s; it cannot go back to {at} s")
        since = self._cursor
        self._cursor = at
        return [change for change in self.transitions() if (since is None or change.at > since) and change.at <= at]

    # Changing it --------------------------------------------------------------------------------------------

    def cancel(self, at: float) -> None:
        """CancelCommand ``at`` seconds after the send: what has not finished by then ends Cancelled."""
        if self.cancelled_at is not None:
            return
        self.cancelled_at = at
        self._play()

    # Playing it out -----------------------------------------------------------------------------------------

    def _play(self) -> None:
        """Play the timeline out from the send, event by event: starts, ends, the stop, the delivery timeout."""
        state = _Playing(self)
        cancel = self.cancelled_at if self.cancelled_at is not None else math.inf
        now = 0.0
        while now < cancel:
            state.start_what_may(now)
            now = min(cancel, state.next_moment(now))
            if now == math.inf:
                break
            state.finish_until(now)
            state.expire_queued(now)
        if self.cancelled_at is not None:
            for track in state.tracks.values():
                if track.ended_at is None or track.ended_at > self.cancelled_at:
                    track.ended_at, track.final = self.cancelled_at, "Cancelled"
        self._tracks, self.stopped_at = state.tracks, state.stopped_at


class _Playing:
    """The queue, the running instances and the error count while a timeline is played out."""

    def __init__(self, rollout: Rollout) -> None:
        self.rollout = rollout
        self.tracks = {instance_id: _Track() for instance_id in rollout.instance_ids}
        self.queue = deque(rollout.instance_ids)
        self.running: list[tuple[float, int, str]] = []  # a heap of (ends at, order, instance)
        self.order = {instance_id: index for index, instance_id in enumerate(rollout.instance_ids)}
        self.errors = 0
        self.stopped_at: float | None = None

    def _may_start(self, now: float) -> bool:
        rollout = self.rollout
        return bool(self.queue) and self.stopped_at is None and now < rollout.delivery_timeout_seconds

    def start_what_may(self, now: float) -> None:
        while self._may_start(now) and len(self.running) < self._limit(now):
            instance_id = self.queue.popleft()
            track = self.tracks[instance_id]
            track.started_at = now
            track.ended_at, track.final = self._ending(instance_id, now)
            if track.final == "DeliveryTimedOut":
                track.queued_details = "Delayed"
            heapq.heappush(self.running, (track.ended_at, self.order[instance_id], instance_id))

    def next_moment(self, now: float) -> float:
        """The next time anything can change: an end, the delivery timeout, SSM's next, wider ramp-up step."""
        rollout = self.rollout
        moments = [self.running[0][0]] if self.running else []
        if self._may_start(now):
            moments.append(rollout.delivery_timeout_seconds)
            if rollout.acknowledge_seconds > 0 and len(self.running) < rollout.concurrency:
                moments.append((now // rollout.acknowledge_seconds + 1) * rollout.acknowledge_seconds)
        return min(moments, default=math.inf)

    def finish_until(self, now: float) -> None:
        """Invocations ending by ``now`` free their slots; an error past MaxErrors stops the rollout."""
        while self.running and self.running[0][0] <= now:
            _, _, instance_id = heapq.heappop(self.running)
            if self.tracks[instance_id].final not in ERRORS:
                continue
            self.errors += 1
            if self.errors > self.rollout.max_errors and self.stopped_at is None:
                self.stopped_at = now
                self._end_queued(now, "Terminated")

    def expire_queued(self, now: float) -> None:
        """The delivery timeout counts from the send: what is still queued then is never started."""
        if self.queue and now >= self.rollout.delivery_timeout_seconds:
            self._end_queued(self.rollout.delivery_timeout_seconds, "DeliveryTimedOut")

    def _limit(self, at: float) -> int:
        """Instances SSM lets run ``at``: 1, then 3, 7, ... after each acknowledgement, up to MaxConcurrency."""
        if self.rollout.acknowledge_seconds <= 0:
            return self.rollout.concurrency
        rounds = int(at // self.rollout.acknowledge_seconds)
        return self.rollout.concurrency if rounds >= 30 else min(self.rollout.concurrency, 2 ** (rounds + 1) - 1)

    def _ending(self, instance_id: str, started: float) -> tuple[float, str]:
        """When and how an instance started at ``started`` ends, unless cancelled first."""
        outcome = self.rollout.outcomes.get(instance_id, Outcome.SUCCESS)
        if outcome is Outcome.UNREACHABLE:
            # SSM keeps trying to deliver (Delayed) until the delivery timeout, counted from the send.
            return max(started, self.rollout.delivery_timeout_seconds), "DeliveryTimedOut"
        if outcome is Outcome.HANGS or self.rollout.durations[instance_id] > self.rollout.execution_timeout_seconds:
            return started + self.rollout.execution_timeout_seconds, "ExecutionTimedOut"
        return started + self.rollout.durations[instance_id], outcome.value

    def _end_queued(self, at: float, details: str) -> None:
        for instance_id in self.queue:
            self.tracks[instance_id].ended_at, self.tracks[instance_id].final = at, details
        self.queue.clear()


def lognormal_durations(
    instance_ids: Sequence[str], *, mean_seconds: float, spread: float = 0.25, seed: int
) -> dict[str, float]:
    """Per-instance durations whose mean is ``mean_seconds`` (lognormal, ``spread`` the sigma of its log), the
    same for the same seed: most instances near the mean, a few much slower, as patching goes."""
    draw = random.Random(seed)
    mu = math.log(mean_seconds) - spread**2 / 2
    return {instance_id: round(draw.lognormvariate(mu, spread), 3) for instance_id in instance_ids}
