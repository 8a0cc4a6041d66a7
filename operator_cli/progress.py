"""A run's progress from its records: per wave and per target, how many instances are patched, failed,
unreachable and still pending, read from one query of the run's partition.

While a target is open its instances' own records count (a patch result, or discovery's verdict that an
instance is unreachable); once RecordTarget has closed it, the target's counts are final. Pure functions:
``watch`` and ``status`` render the same ``RunProgress``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from handlers.contract.table import COMMAND_PREFIX, INSTANCE_PREFIX, META, TARGET_PREFIX, WAVE_PREFIX
from handlers.domain import outcomes

PENDING = "pending"
# What a wave is doing, when its own record does not say yet.
WAITING, RUNNING, AWAITING_APPROVAL, NOT_STARTED = "WAITING", "RUNNING", "AWAITING_APPROVAL", "NOT_STARTED"


@dataclass(frozen=True)
class Counts:
    patched: int = 0
    failed: int = 0
    unreachable: int = 0
    not_patched: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.patched + self.failed + self.unreachable + self.not_patched + self.pending

    @property
    def done(self) -> int:
        return self.total - self.pending

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.patched + other.patched,
            self.failed + other.failed,
            self.unreachable + other.unreachable,
            self.not_patched + other.not_patched,
            self.pending + other.pending,
        )

    def text(self) -> str:
        parts = [f"patched {self.patched}", f"failed {self.failed}", f"unreachable {self.unreachable}"]
        if self.not_patched:
            parts.append(f"not patched {self.not_patched}")
        if self.pending:
            parts.append(f"pending {self.pending}")
        return ", ".join(parts) + f" of {self.total}"


@dataclass(frozen=True)
class TargetProgress:
    account_id: str
    region: str
    # RUNNING until RecordTarget closes it (then COMPLETED, SKIPPED or ERRORED), with its outcome and error.
    status: str
    counts: Counts
    outcome: int | None = None
    error: str = ""

    @property
    def name(self) -> str:
        return f"{self.account_id}/{self.region}"


@dataclass(frozen=True)
class WaveProgress:
    index: int
    name: str
    status: str
    expected_targets: int
    targets: tuple[TargetProgress, ...]
    reason: str = ""
    approval: str = ""

    @property
    def counts(self) -> Counts:
        return sum((target.counts for target in self.targets), Counts())


@dataclass(frozen=True)
class RunProgress:
    run_id: str
    status: str  # the run record's status (RUNNING until Finalize or CancelRun closes it)
    outcome: int | None
    reason: str
    waves: tuple[WaveProgress, ...]

    @property
    def counts(self) -> Counts:
        return sum((wave.counts for wave in self.waves), Counts())

    @property
    def finished(self) -> bool:
        return self.status != "RUNNING"


def run_progress(run_id: str, items: Iterable[Mapping[str, Any]]) -> RunProgress | None:
    """The progress of ``run_id`` from its items (None when it has no run record yet)."""
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    meta: Mapping[str, Any] | None = None
    for item in items:
        if item["sk"] == META:
            meta = item
        else:
            by_kind.setdefault(item["sk"].split("#")[0] + "#", []).append(item)
    if meta is None:
        return None
    plan = json.loads(meta.get("plan", '{"waves": []}'))
    waves_recorded = {int(wave["sk"].split("#")[1]): wave for wave in by_kind.get(WAVE_PREFIX, [])}
    targets = {(int(t["waveIndex"]), t["accountId"], t["region"]): t for t in by_kind.get(TARGET_PREFIX, [])}
    started = {int(entry["sk"].split("#")[1]) for entry in by_kind.get(COMMAND_PREFIX, [])}
    instances: dict[tuple[int, str, str], list[Mapping[str, Any]]] = {}
    for instance in by_kind.get(INSTANCE_PREFIX, []):
        where = (int(instance.get("waveIndex", -1)), instance["accountId"], instance["region"])
        instances.setdefault(where, []).append(instance)
    status = str(meta.get("status", "RUNNING"))
    waves = tuple(
        _wave(
            planned,
            waves_recorded.get(planned["index"], {}),
            targets,
            instances,
            started,
            run_ended=status != "RUNNING",
        )
        for planned in plan["waves"]
    )
    outcome = meta.get("outcome")
    return RunProgress(
        run_id, status, int(outcome) if outcome is not None else None, str(meta.get("reason", "")), waves
    )


def _wave(
    planned: Mapping[str, Any],
    recorded: Mapping[str, Any],
    targets: Mapping[tuple[int, str, str], Mapping[str, Any]],
    instances: Mapping[tuple[int, str, str], Sequence[Mapping[str, Any]]],
    started: set[int],
    *,
    run_ended: bool,
) -> WaveProgress:
    index = int(planned["index"])
    shown = []
    for group in planned["targets"]:
        for account_id in group["accounts"]:
            for region in group["regions"]:
                where = (index, account_id, region)
                if where in targets or where in instances:
                    shown.append(_target(account_id, region, targets.get(where), instances.get(where, ())))
    approval = recorded.get("approval", {})
    if recorded.get("status"):
        status = str(recorded["status"])
    elif approval.get("status") == "PENDING":
        status = AWAITING_APPROVAL
    elif shown or index in started:
        status = RUNNING
    else:
        status = NOT_STARTED if run_ended else WAITING
    return WaveProgress(
        index,
        str(planned["name"]),
        status,
        int(planned.get("targetCount", len(shown))),
        tuple(sorted(shown, key=lambda target: target.name)),
        reason=str(recorded.get("reason", "")),
        approval=str(approval.get("status", "")),
    )


def _target(
    account_id: str, region: str, recorded: Mapping[str, Any] | None, instances: Sequence[Mapping[str, Any]]
) -> TargetProgress:
    if recorded is not None:
        counts = recorded.get("counts", {})
        return TargetProgress(
            account_id,
            region,
            str(recorded["status"]),
            Counts(
                int(counts.get("succeeded", 0)),
                int(counts.get("failed", 0)),
                int(counts.get("unreachable", 0)),
                int(counts.get("notPatched", 0)),
            ),
            outcome=int(recorded["outcome"]),
            error=str(recorded.get("error", "")),
        )
    tally = dict.fromkeys(
        (outcomes.SUCCEEDED, outcomes.FAILED_INSTANCE, outcomes.UNREACHABLE, outcomes.NOT_PATCHED, PENDING), 0
    )
    for instance in instances:
        tally[_instance_state(instance)] += 1
    return TargetProgress(
        account_id,
        region,
        RUNNING,
        Counts(
            tally[outcomes.SUCCEEDED],
            tally[outcomes.FAILED_INSTANCE],
            tally[outcomes.UNREACHABLE],
            tally[outcomes.NOT_PATCHED],
            tally[PENDING],
        ),
    )


def _instance_state(instance: Mapping[str, Any]) -> str:
    """An open target's instance: its final state once known, else pending (no patch result yet)."""
    if "final" in instance:
        return str(instance["final"]["status"])
    if not instance.get("patch", {}).get("status") and instance.get("discovery", {}).get("reachable", True):
        return PENDING
    final = outcomes.instance_final(instance)["status"]
    return final if final != outcomes.NOT_PATCHED else PENDING


# Rendering ----------------------------------------------------------------------------------------------------


def lines(progress: RunProgress) -> list[tuple[str, str]]:
    """(key, text) per run, wave and target: the plain view, one line each, keyed so a change can be spotted."""
    shown = [("run", _run_line(progress))]
    for wave in progress.waves:
        shown.append((f"wave {wave.index}", _wave_line(wave)))
        for target in wave.targets:
            shown.append((f"target {wave.index} {target.name}", f"  {target.name}: {_target_text(target)}"))
    return shown


def screen(progress: RunProgress, *, width: int = 30) -> list[str]:
    """The terminal view: the same lines with a progress bar per wave and target."""
    shown = [_run_line(progress)]
    for wave in progress.waves:
        shown.append(f"{_bar(wave.counts, width)} {_wave_line(wave)}")
        for target in wave.targets:
            shown.append(f"  {_bar(target.counts, width - 2)} {target.name}: {_target_text(target)}")
    return shown


def _run_line(progress: RunProgress) -> str:
    outcome = f" ({progress.outcome})" if progress.outcome is not None else ""
    reason = f": {progress.reason}" if progress.reason else ""
    return f"run {progress.run_id}: {progress.status}{outcome}, {progress.counts.text()}{reason}"


def _wave_line(wave: WaveProgress) -> str:
    seen = len(wave.targets)
    approval = f", approval {wave.approval}" if wave.approval else ""
    reason = f": {wave.reason}" if wave.reason else ""
    return (
        f"wave {wave.name}: {wave.status}, targets {seen}/{wave.expected_targets}{approval}, "
        f"{wave.counts.text()}{reason}"
    )


def _target_text(target: TargetProgress) -> str:
    outcome = f" ({target.outcome})" if target.outcome is not None else ""
    error = f": {target.error}" if target.error else ""
    return f"{target.status}{outcome}, {target.counts.text()}{error}"


def _bar(counts: Counts, width: int) -> str:
    if not counts.total:
        return "[" + " " * width + "]"
    filled = round(width * counts.done / counts.total)
    return "[" + "#" * filled + "." * (width - filled) + "]"
