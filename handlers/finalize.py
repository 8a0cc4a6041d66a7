"""Finalize: decide the run outcome, write the report, notify.

Event: ``{"runId", "halt"?: {"Error", "Cause"}}`` (``halt`` is present when the waves stopped early). Outcome:
200 every instance patched; 206 some were not (details in the report); 500 nothing was patched, a wave halted
the run, or the run failed. Writes ``runs/<runId>/report/{summary.json,instances.csv,report.html}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from aws_lambda_powertools.metrics import MetricUnit

from handlers.contract.environment import FinalizeEnv
from handlers.contract.errors import HALTING
from handlers.contract.table import RunStatus, WaveStatus
from handlers.domain import outcomes, report
from handlers.records.codec import iso
from handlers.records.items import InstanceRecord, TargetRecord, WaveApproval, WaveRecord
from handlers.records.repository import RunTable
from handlers.runtime.clients import HubClients
from handlers.runtime.entry import entry_point
from handlers.runtime.events import key, read_event
from handlers.runtime.observability import logger, metrics

HALTING_NAMES = {error.error_name() for error in HALTING}
SUBJECT_LENGTH = 100
# How the report shows a wave without a record of its own, and a required approval that was never asked for.
NOT_STARTED, UNRECORDED, NOT_REQUESTED = "NOT_STARTED", "UNRECORDED", "NOT_REQUESTED"
TARGET_SUMMARY_FIELDS = ("accountId", "region", "status", "outcome", "counts", "error")


@dataclass(frozen=True)
class Halt:
    """Why the waves stopped early (the Waves map's Catch); empty when they did not."""

    error: str | None = key("Error", None)
    cause: str | None = key("Cause", None)

    def __bool__(self) -> bool:
        return self.error is not None or self.cause is not None


@dataclass(frozen=True)
class FinalizeEvent:
    run_id: str
    halt: Halt = Halt()


def handle(event: dict[str, Any], *, env: FinalizeEnv, clients: HubClients, now: datetime) -> dict[str, Any]:
    request = read_event(FinalizeEvent, event)
    run_id, halt = request.run_id, request.halt
    runs = RunTable(clients.dynamodb(), env.table_name)
    recorded = runs.read_run(run_id)
    meta = recorded.meta
    if meta is None:
        raise RuntimeError(f"run {run_id} has no META record")
    plan = json.loads(meta["plan"])
    waves, targets, instances = recorded.waves, recorded.targets, recorded.instances

    status, outcome, reason = _decide(halt, waves, targets, instances)
    totals = outcomes.add_counts(t["counts"] for t in targets)
    wave_names = {wave["index"]: wave["name"] for wave in plan["waves"]}
    rows = report.instance_rows(instances, wave_names)
    summary = {
        "runId": run_id,
        "status": status,
        "outcome": outcome,
        "reason": reason,
        "operation": meta["operation"],
        "rebootOption": meta["rebootOption"],
        "documentDigest": meta["documentDigest"],
        "startedAt": meta["startedAt"],
        "endedAt": iso(now),
        "totals": totals,
        "waves": [_wave_summary(wave, waves.get(wave["index"]), targets, halt) for wave in plan["waves"]],
    }
    prefix = f"runs/{run_id}/report/"
    s3 = clients.s3()
    for name, body, content_type in (
        ("summary.json", report.summary_json(summary), "application/json"),
        ("instances.csv", report.instances_csv(rows), "text/csv; charset=utf-8"),
        ("report.html", report.report_html(summary, rows), "text/html; charset=utf-8"),
    ):
        s3.put_object(Bucket=env.artifact_bucket, Key=prefix + name, Body=body.encode(), ContentType=content_type)
    runs.set_final_state(run_id, status=status, outcome=outcome, reason=reason, ended_at=iso(now), report_prefix=prefix)
    clients.sns().publish(
        TopicArn=env.topic_arn,
        Subject=f"Patch run {run_id}: {status} ({outcome})"[:SUBJECT_LENGTH],
        Message=_message(summary, env.artifact_bucket, prefix),
    )
    logger.info("run finished", extra={"status": status, "outcome": outcome, "reason": reason})
    metrics.add_metric(name=f"Runs{status.title()}", unit=MetricUnit.Count, value=1)
    # The run's own totals, one data point per run (the dashboard's per-run view; the run id is in the log line).
    for name, count in (
        ("RunInstancesPatched", totals["succeeded"]),
        ("RunInstancesFailed", totals["failed"]),
        ("RunInstancesUnreachable", totals["unreachable"]),
        ("RunInstancesNotPatched", totals["notPatched"]),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    metrics.add_metadata(key="runId", value=run_id)
    return {
        "runId": run_id,
        "status": status,
        "outcome": outcome,
        "reason": reason,
        "errorName": "RunHalted" if status == RunStatus.HALTED else "RunFailed",
        "report": f"s3://{env.artifact_bucket}/{prefix}",
    }


def _decide(
    halt: Halt, waves: dict[int, WaveRecord], targets: list[TargetRecord], instances: list[InstanceRecord]
) -> tuple[RunStatus, int, str]:
    if halt:
        error = halt.error if halt.error is not None else "Error"
        if error in HALTING_NAMES:
            halted = next((w["reason"] for w in waves.values() if w.get("status") == WaveStatus.HALTED), "")
            return RunStatus.HALTED, outcomes.FAILED, halted or _cause(halt)
        return RunStatus.FAILED, outcomes.FAILED, f"{error}: {_cause(halt)}"
    if not instances:
        # Nothing matched anywhere: a mistyped selector must not look like a successful patch run.
        return RunStatus.FAILED, outcomes.FAILED, "no instance matched the selector in any target"
    outcome = outcomes.combined(t["outcome"] for t in targets)
    succeeded = sum(1 for i in instances if i.get("final", {}).get("status") == outcomes.SUCCEEDED)
    if outcome == outcomes.OK:
        return RunStatus.SUCCEEDED, outcomes.OK, ""
    if succeeded:
        return RunStatus.PARTIAL, outcomes.PARTIAL, "some instances were not patched; see the report"
    return RunStatus.FAILED, outcomes.FAILED, "no instance was patched"


def _wave_summary(
    planned: dict[str, Any], recorded: WaveRecord | None, targets: list[TargetRecord], halt: Halt
) -> dict[str, Any]:
    index = planned["index"]
    own = sorted((t for t in targets if t["waveIndex"] == index), key=lambda t: (t["accountId"], t["region"]))
    wave: WaveRecord = recorded if recorded is not None else {"pk": "", "sk": ""}
    unrecorded = NOT_STARTED if halt else UNRECORDED
    return {
        "index": index,
        "name": planned["name"],
        # A wave still waiting for approval when the run stopped has an approval but no status.
        "status": wave.get("status", unrecorded),
        "outcome": wave.get("outcome"),
        "reason": wave.get("reason", ""),
        "approval": _approval_summary(planned, wave.get("approval")),
        "counts": outcomes.add_counts(t["counts"] for t in own),
        "targets": [{name: cast(Mapping[str, Any], t).get(name, "") for name in TARGET_SUMMARY_FIELDS} for t in own],
    }


def _approval_summary(planned: dict[str, Any], approval: WaveApproval | None) -> dict[str, Any] | None:
    """Who decided a wave's approval, when, and from where; None for a wave that needed none."""
    if not planned["approval"]["required"]:
        return None
    if approval is None:
        return {"status": NOT_REQUESTED}
    fields = (
        "status", "approvalId", "approvers", "unreachableApprovers", "requestedAt", "expiresAt",
        "decidedBy", "decidedAt", "sourceIp", "detail",
    )  # fmt: skip
    recorded = cast(Mapping[str, Any], approval)
    return {name: recorded[name] for name in fields if name in recorded}


def _cause(halt: Halt) -> str:
    cause = halt.cause or ""
    try:
        return str(json.loads(cause).get("errorMessage", cause))
    except (ValueError, AttributeError):
        return cause


def _message(summary: dict[str, Any], bucket: str, prefix: str) -> str:
    totals = summary["totals"]
    lines = [
        f"Patch run {summary['runId']} ended {summary['status']} ({summary['outcome']}).",
        summary["reason"],
        f"Instances: {totals['succeeded']} succeeded, {totals['failed']} failed, "
        f"{totals['unreachable']} unreachable, {totals['notPatched']} not patched, of {totals['total']}.",
        "",
    ]
    lines += [f"- wave {w['name']}: {w['status']} {w['reason']}".rstrip() for w in summary["waves"]]
    lines += [f"  approval: {report.approval_text(w['approval'])}" for w in summary["waves"] if w["approval"]]
    lines += ["", f"Report: s3://{bucket}/{prefix}report.html"]
    return "\n".join(line for line in lines if line is not None)


lambda_handler = entry_point(handle, FinalizeEnv)
