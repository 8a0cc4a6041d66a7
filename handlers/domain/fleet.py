"""Vocabulary of instance and command states, shared by the fleet-facing handlers."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.contract.conventions import PATCH, PHASES, SNAPSHOT

__all__ = ["PATCH", "PHASES", "SNAPSHOT"]

# ListCommands statuses.
COMMAND_IN_PROGRESS = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
COMMAND_TERMINAL = frozenset({"Success", "Cancelled", "Failed", "TimedOut"})

# Per-instance invocation statuses.
INVOCATION_SUCCESS = "Success"
INVOCATION_IN_PROGRESS = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})

# The step names inside the spoke's snapshot document (one per platform, chosen by precondition).
SNAPSHOT_PLUGIN = {"linux": "LinuxSnapshot", "windows": "WindowsSnapshot"}

# GetCommandInvocation returns at most this many characters of output; longer output is cut.
OUTPUT_LIMIT = 24_000


@dataclass(frozen=True)
class PollSchedule:
    """Seconds to wait before the first poll (about how long the work takes), then between polls.

    After the first, waits are ``then`` at least and a quarter of the time already spent at most up to
    ``longest``: a command that runs long is polled less often, which bounds the polls (and the history
    events) of a long command to a few dozen whatever its deadline.
    """

    first: int
    then: int
    longest: int = 900

    def next_wait(self, elapsed_seconds: float) -> int:
        return int(min(self.longest, max(self.then, elapsed_seconds / 4)))


SCHEDULES = {
    SNAPSHOT: PollSchedule(first=20, then=10),
    ("patch", "Install"): PollSchedule(first=600, then=60),
    ("patch", "Scan"): PollSchedule(first=120, then=30),
}

# Delivery timeout for SendCommand: an instance that has not picked the command up by then is DeliveryTimedOut.
# Online agents pick commands up in seconds; the snapshot's is short so an offline instance cannot hold the
# target's snapshot phase (and its polling) for long.
DELIVERY_TIMEOUT_SECONDS = {"snapshot": 120, "patch": 600}
SNAPSHOT_DEADLINE_MINUTES = 15


def schedule(phase: str, operation: str) -> PollSchedule:
    return SCHEDULES[SNAPSHOT] if phase == SNAPSHOT else SCHEDULES[(PATCH, operation)]


def platform_of(platform_type: str | None) -> str:
    """``linux`` or ``windows`` from an EC2 ``Platform`` / SSM ``PlatformType`` value."""
    return "windows" if (platform_type or "").lower() == "windows" else "linux"
