"""EvaluateWave: judge a finished wave against its failure budget; halt the run when it is exceeded.

Event: ``{"runId", "wave": {"index", "name", "targetCount", "failureBudget": {"failedPercent",
"unreachablePercent"}}}``. Failed and unreachable shares are counted separately, each against its own budget.
A target that errored before its instances were known counts against the failed budget (unless that budget is
100). A wave with unrecorded targets cannot be judged and halts the run too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.contract.environment import EvaluateWaveEnv
from handlers.contract.errors import FailureBudgetExceeded, TargetsUnrecorded
from handlers.contract.table import TargetStatus, WaveStatus, run_pk, wave_sk
from handlers.domain import outcomes
from handlers.records.codec import expires_at, iso
from handlers.records.repository import RunTable
from handlers.runtime.clients import HubClients
from handlers.runtime.entry import entry_point
from handlers.runtime.events import read_event
from handlers.runtime.observability import logger, metrics


@dataclass(frozen=True)
class FailureBudget:
    """The most a wave may fail, in percent of its instances (kept as given: 5 stays 5, 2.5 stays 2.5)."""

    failed_percent: int | float
    unreachable_percent: int | float


@dataclass(frozen=True)
class Wave:
    index: int
    name: str
    target_count: int
    failure_budget: FailureBudget


@dataclass(frozen=True)
class EvaluateWaveEvent:
    run_id: str
    wave: Wave


def handle(event: dict[str, Any], *, env: EvaluateWaveEnv, clients: HubClients, now: datetime) -> dict[str, Any]:
    request = read_event(EvaluateWaveEvent, event)
    run_id, wave = request.run_id, request.wave
    budget, expected = wave.failure_budget, wave.target_count
    runs = RunTable(clients.dynamodb(), env.table_name)

    targets = runs.wave_targets(run_id, wave.index)
    counts = outcomes.add_counts(target["counts"] for target in targets)
    errored_blind = sum(1 for t in targets if t["status"] == TargetStatus.ERRORED and t["counts"]["total"] == 0)
    attempted = counts["succeeded"] + counts["failed"] + counts["notPatched"]
    failed_percent = _percent(counts["failed"] + counts["notPatched"], attempted)
    unreachable_percent = _percent(counts["unreachable"], attempted + counts["unreachable"])

    reasons = []
    if len(targets) < expected:
        reasons.append(f"{expected - len(targets)} of {expected} targets have no record")
    if failed_percent > budget.failed_percent:
        reasons.append(f"{failed_percent:.1f}% of instances failed (budget {budget.failed_percent}%)")
    if unreachable_percent > budget.unreachable_percent:
        reasons.append(f"{unreachable_percent:.1f}% of instances unreachable (budget {budget.unreachable_percent}%)")
    if errored_blind and budget.failed_percent < 100:
        reasons.append(f"{errored_blind} target(s) errored before their instances were known")
    halted = bool(reasons)
    outcome = outcomes.combined(t["outcome"] for t in targets) if targets else outcomes.FAILED
    reason = f"wave {wave.name!r}: " + "; ".join(reasons) if halted else ""
    runs.record_wave(
        {
            "pk": run_pk(run_id),
            "sk": wave_sk(wave.index),
            "waveIndex": wave.index,
            "name": wave.name,
            "status": WaveStatus.HALTED if halted else WaveStatus.COMPLETED,
            "outcome": outcome,
            "counts": counts,
            "targets": {"expected": expected, "recorded": len(targets), "erroredBlind": errored_blind},
            "failedPercent": round(failed_percent, 2),
            "unreachablePercent": round(unreachable_percent, 2),
            "failureBudget": {"failedPercent": budget.failed_percent, "unreachablePercent": budget.unreachable_percent},
            "reason": reason,
            "evaluatedAt": iso(now),
            "expiresAt": expires_at(now, env.retention_days),
        }
    )
    logger.info("wave evaluated", extra={"wave": wave.name, "halted": halted, "reason": reason, **counts})
    metrics.add_metric(name="WavesHalted" if halted else "WavesCompleted", unit=MetricUnit.Count, value=1)
    if len(targets) < expected:
        raise TargetsUnrecorded(reason)
    if halted:
        raise FailureBudgetExceeded(reason)
    return {"status": WaveStatus.COMPLETED, "outcome": outcome, "counts": counts}


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


lambda_handler = entry_point(handle, EvaluateWaveEnv)
