"""How long SSM takes to roll one patch command out over a target, and the deadlines that follow from it.

Pure arithmetic shared by ValidateRun (the run document's plan, before anything is sent), SendCommand (the real
instance count, once Discover has found it) and the rehearsal's model of SSM, so all three round MaxConcurrency
and MaxErrors the same way.

SSM starts at most MaxConcurrency instances at once and starts the next one when a slot frees
(https://docs.aws.amazon.com/systems-manager/latest/userguide/send-commands-multiple.html#send-commands-velocity),
so a target of ``n`` instances takes about ``ceil(n / concurrency)`` per-instance times. How SSM rounds a
percentage of the targets is not documented; the planning rounds down (never below one instance), which gives
the most batches, so a plan that fits here fits whichever way SSM rounds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# A quarter of the batches' time, at least five minutes (the shortest patchTimeoutMinutes, ten, still fits one
# five-minute instance). The instances sharing one concurrency slot run one after
# another, so their spread adds up with the batches, and the rollout ends with its slowest slot. Measured with
# the rehearsal's model (20-minute mean, lognormal spread 0.25, 200 seeds): the slowest rollout was 11% over
# batches x mean at 50 instances (10%), 21% at 19 instances, 21% at 1,000. SSM's ramp-up and the poll that sees
# the end take minutes more at most.
MARGIN_FRACTION = 0.25
MARGIN_MINIMUM_SECONDS = 300
# SendCommand's TimeoutSeconds bounds (SendCommand API reference).
DELIVERY_TIMEOUT_MINIMUM = 30
DELIVERY_TIMEOUT_MAXIMUM = 2_592_000

_RATE = re.compile(r"^(?P<number>[0-9]+)(?P<percent>%?)$")


def rate_count(value: str, targets: int, *, minimum: int) -> int:
    """MaxConcurrency or MaxErrors as a number of instances of ``targets``: a count as given, a percentage
    rounded down, never below ``minimum`` (1 for concurrency, 0 for errors)."""
    match = _RATE.match(value)
    if match is None:
        raise ValueError(f"{value!r} is neither a count nor a percentage")
    number = int(match["number"])
    if match["percent"]:
        number = targets * number // 100
    return max(minimum, number)


def concurrency(max_concurrency: str, instances: int) -> int:
    """How many of ``instances`` SSM runs at once under ``max_concurrency``."""
    return min(max(1, instances), rate_count(max_concurrency, instances, minimum=1))


def batches(instances: int, max_concurrency: str) -> int:
    """How many per-instance times the rollout of ``instances`` takes (0 for an empty target)."""
    if instances <= 0:
        return 0
    return math.ceil(instances / concurrency(max_concurrency, instances))


def worst_case_instances(max_concurrency: str) -> int | None:
    """The target size that takes the most batches under a percentage ``max_concurrency``; None for a count
    (its batches grow with the target without bound)."""
    match = _RATE.match(max_concurrency)
    if match is None or not match["percent"]:
        return None
    percent = int(match["number"])
    # Below 200/percent instances SSM runs one at a time (rounded down, at least one); past it every instance
    # count needs fewer batches than the largest count just under it. Searching a little further is cheap.
    bound = 4 * math.ceil(100 / percent) + 4
    return max(range(1, bound + 1), key=lambda n: (batches(n, max_concurrency), -n))


@dataclass(frozen=True)
class RolloutPlan:
    """The timing of one patch command over one target."""

    instances: int
    concurrency: int
    batches: int
    seconds_per_instance: int
    margin_seconds: int

    @property
    def deadline_seconds(self) -> int:
        """Batches x per-instance time, plus the margin: when the command should be over."""
        return self.batches * self.seconds_per_instance + self.margin_seconds

    def describe(self) -> str:
        """The numbers, for a refusal: ``19 instances 1 at a time: 19 batches x 20 min + 95 min margin``."""
        instances = f"{self.instances} instance{'' if self.instances == 1 else 's'}"
        return (
            f"{instances} {self.concurrency} at a time: {self.batches} batch{'' if self.batches == 1 else 'es'} x "
            f"{_minutes(self.seconds_per_instance)} min + {_minutes(self.margin_seconds)} min margin = "
            f"{_minutes(self.deadline_seconds)} min"
        )


def delivery_timeout_seconds(deadline_seconds: int) -> int:
    """SendCommand TimeoutSeconds for a command cancelled at ``deadline_seconds`` after its send. SSM counts the
    delivery timeout from the send, so an instance still queued behind MaxConcurrency when it runs out ends
    DeliveryTimedOut without being tried; as long as the deadline, it never expires for an instance SSM would
    start before the command is cancelled anyway (within SendCommand's bounds)."""
    return min(DELIVERY_TIMEOUT_MAXIMUM, max(DELIVERY_TIMEOUT_MINIMUM, deadline_seconds))


def plan(instances: int, max_concurrency: str, *, minutes_per_instance: float) -> RolloutPlan:
    """The rollout of ``instances`` under ``max_concurrency`` when one instance patches in
    ``minutes_per_instance``. MaxErrors is no input: stopping early only shortens a rollout."""
    per_instance = math.ceil(minutes_per_instance * 60)
    count = batches(instances, max_concurrency)
    return RolloutPlan(
        instances=instances,
        concurrency=concurrency(max_concurrency, instances),
        batches=count,
        seconds_per_instance=per_instance,
        margin_seconds=max(MARGIN_MINIMUM_SECONDS, math.ceil(count * per_instance * MARGIN_FRACTION)),
    )


def refusal(rollout: RolloutPlan, *, limit_minutes: int) -> str | None:
    """Why the rollout cannot finish within ``limit_minutes`` (patchTimeoutMinutes), or None when it can."""
    if rollout.deadline_seconds <= limit_minutes * 60:
        return None
    return f"{rollout.describe()}, over the {limit_minutes}-minute patchTimeoutMinutes"


def target_refusal(
    instances: int, max_concurrency: str, *, minutes_per_instance: float, limit_minutes: int
) -> str | None:
    """For SendCommand, once the target's instance count is known: why its patch cannot finish in time, or None."""
    return refusal(
        plan(instances, max_concurrency, minutes_per_instance=minutes_per_instance), limit_minutes=limit_minutes
    )


def _minutes(seconds: int) -> str:
    minutes = seconds / 60
    return f"{minutes:g}" if minutes == int(minutes) else f"{minutes:.1f}"
