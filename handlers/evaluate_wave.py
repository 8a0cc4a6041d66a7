"""EvaluateWave: judge a finished wave against its failure budget; halt the run when it is exceeded.

Event: ``{"runId", "wave": {"index", "name", "targetCount", "failureBudget": {"failedPercent",
"unreachablePercent"}}}``. Failed and unreachable shares are counted separately, each against its own budget.
A target that errored before its instances were known counts against the failed budget (unless that budget is
100). A wave with unrecorded targets cannot be judged and halts the run too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.common import outcomes, records
from handlers.common.aws import Clients
from handlers.common.events import field
from handlers.common.runtime import Env, entry_point, logger, metrics
from handlers.contract.errors import FailureBudgetExceeded, TargetsUnrecorded


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    run_id = field(event, "runId", str)
    wave_index = field(event, "wave.index", int)
    wave_name = field(event, "wave.name", str)
    expected = field(event, "wave.targetCount", int)
    budget = field(event, "wave.failureBudget", dict)
    dynamodb = clients.hub("dynamodb")

    targets = list(records.query_prefix(dynamodb, env.table_name, run_id, f"TARGET#{wave_index:02d}#"))
    counts = outcomes.add_counts(target["counts"] for target in targets)
    errored_blind = sum(1 for t in targets if t["status"] == "ERRORED" and t["counts"]["total"] == 0)
    attempted = counts["succeeded"] + counts["failed"] + counts["notPatched"]
    failed_percent = _percent(counts["failed"] + counts["notPatched"], attempted)
    unreachable_percent = _percent(counts["unreachable"], attempted + counts["unreachable"])

    reasons = []
    if len(targets) < expected:
        reasons.append(f"{expected - len(targets)} of {expected} targets have no record")
    if failed_percent > budget["failedPercent"]:
        reasons.append(f"{failed_percent:.1f}% of instances failed (budget {budget['failedPercent']}%)")
    if unreachable_percent > budget["unreachablePercent"]:
        reasons.append(f"{unreachable_percent:.1f}% of instances unreachable (budget {budget['unreachablePercent']}%)")
    if errored_blind and budget["failedPercent"] < 100:
        reasons.append(f"{errored_blind} target(s) errored before their instances were known")
    halted = bool(reasons)
    outcome = outcomes.combined(t["outcome"] for t in targets) if targets else outcomes.FAILED
    reason = f"wave {wave_name!r}: " + "; ".join(reasons) if halted else ""
    # An update, not a put: the wave's approval (who approved it, when) is already in this item.
    values = {
        "waveIndex": wave_index,
        "name": wave_name,
        "status": "HALTED" if halted else "COMPLETED",
        "outcome": outcome,
        "counts": counts,
        "targets": {"expected": expected, "recorded": len(targets), "erroredBlind": errored_blind},
        "failedPercent": round(failed_percent, 2),
        "unreachablePercent": round(unreachable_percent, 2),
        "failureBudget": budget,
        "reason": reason,
        "evaluatedAt": records.iso(now),
        "expiresAt": records.expires_at(now, env.retention_days),
    }
    records.set_fields(dynamodb, env.table_name, records.key(run_id, records.wave_sk(wave_index)), values)
    logger.info("wave evaluated", extra={"wave": wave_name, "halted": halted, "reason": reason, **counts})
    metrics.add_metric(name="WavesHalted" if halted else "WavesCompleted", unit=MetricUnit.Count, value=1)
    if len(targets) < expected:
        raise TargetsUnrecorded(reason)
    if halted:
        raise FailureBudgetExceeded(reason)
    return {"status": "COMPLETED", "outcome": outcome, "counts": counts}


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


lambda_handler = entry_point(handle)
