"""How instance results roll up into target, wave and run outcomes (200 / 206 / 500)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, cast

from handlers.contract.table import Outcome
from handlers.records.items import Counts, FinalState

# Plain ints in records and reports (the contract names them).
OK = int(Outcome.OK)
PARTIAL = int(Outcome.PARTIAL)
FAILED = int(Outcome.FAILED)

# SSM could not hand the command to the agent: the instance was unreachable, not failed. SSM says so in an
# invocation's StatusDetails (its Status is only TimedOut or Failed).
UNDELIVERED = frozenset({"DeliveryTimedOut", "Undeliverable", "Terminated"})

# An instance ends in exactly one of these.
SUCCEEDED = "Succeeded"
FAILED_INSTANCE = "Failed"
UNREACHABLE = "Unreachable"
NOT_PATCHED = "NotPatched"


def instance_final(item: Mapping[str, Any], *, target_error: str = "") -> FinalState:
    """The final state of one instance from its record, and why."""
    patch = item.get("patch") or {}
    discovery = item.get("discovery", {})
    patch_status = patch.get("status", "")
    if patch_status == "Success":
        return {"status": SUCCEEDED, "reason": ""}
    if discovery and not discovery.get("reachable", True):
        return {"status": UNREACHABLE, "reason": discovery.get("reason", "")}
    details = patch.get("statusDetails", "")
    if details in UNDELIVERED:
        return {"status": UNREACHABLE, "reason": f"ssm-{details.lower()}"}
    if patch_status:
        return {"status": FAILED_INSTANCE, "reason": patch.get("reason") or patch_status}
    return {"status": NOT_PATCHED, "reason": target_error or "no patch result from SSM"}


def tally(finals: Iterable[FinalState]) -> Counts:
    counts = Counter(final["status"] for final in finals)
    return {
        "succeeded": counts[SUCCEEDED],
        "failed": counts[FAILED_INSTANCE],
        "unreachable": counts[UNREACHABLE],
        "notPatched": counts[NOT_PATCHED],
        "total": sum(counts.values()),
    }


def target_outcome(counts: Counts, *, errored: bool) -> int:
    """200 all succeeded; 206 some did; 500 none did (or the target errored before any patch ran)."""
    if errored and counts["succeeded"] == 0:
        return FAILED
    if counts["total"] == 0:
        return OK  # nothing matched the selector: nothing to do, nothing failed
    if counts["succeeded"] == counts["total"]:
        return OK
    return PARTIAL if counts["succeeded"] else FAILED


def combined(outcomes: Iterable[int]) -> int:
    """Outcome of a wave or run from its parts."""
    seen = set(outcomes)
    if not seen or seen == {OK}:
        return OK
    if seen == {FAILED}:
        return FAILED
    return PARTIAL


def add_counts(parts: Iterable[Counts]) -> Counts:
    total: Counter[str] = Counter()
    for part in parts:
        total.update({key: int(value) for key, value in cast(Mapping[str, int], part).items()})
    return {
        "succeeded": total["succeeded"],
        "failed": total["failed"],
        "unreachable": total["unreachable"],
        "notPatched": total["notPatched"],
        "total": total["total"],
    }
