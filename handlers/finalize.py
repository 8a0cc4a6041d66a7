"""Finalize: decide the run outcome, write the report, notify.

Event: ``{"runId", "halt"?: {"Error", "Cause"}}`` (``halt`` is present when the waves stopped early). Outcome:
200 every instance patched; 206 some were not (details in the report); 500 nothing was patched, a wave halted
the run, or the run failed. Writes ``runs/<runId>/report/{summary.json,instances.csv,report.html}``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.common import outcomes, records, report
from handlers.common.aws import Clients
from handlers.common.events import field, optional
from handlers.common.runtime import Env, entry_point, logger, metrics
from handlers.contract.errors import HALTING

HALTING_NAMES = {error.error_name() for error in HALTING}
SUBJECT_LENGTH = 100


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    run_id = field(event, "runId", str)
    halt = optional(event, "halt", dict, {})
    dynamodb = clients.hub("dynamodb")
    items = list(records.query_prefix(dynamodb, env.table_name, run_id, ""))
    meta = next((item for item in items if item["sk"] == records.META), None)
    if meta is None:
        raise RuntimeError(f"run {run_id} has no META record")
    plan = json.loads(meta["plan"])
    waves = {item["waveIndex"]: item for item in items if item["sk"].startswith("WAVE#")}
    targets = [item for item in items if item["sk"].startswith("TARGET#")]
    instances = [item for item in items if item["sk"].startswith("INSTANCE#")]

    status, outcome, reason = _decide(halt, waves, targets, instances)
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
        "endedAt": records.iso(now),
        "totals": outcomes.add_counts(t["counts"] for t in targets),
        "waves": [_wave_summary(wave, waves.get(wave["index"]), targets, halt) for wave in plan["waves"]],
    }
    prefix = f"runs/{run_id}/report/"
    if env.artifact_bucket:
        s3 = clients.hub("s3")
        for name, body, content_type in (
            ("summary.json", report.summary_json(summary), "application/json"),
            ("instances.csv", report.instances_csv(rows), "text/csv; charset=utf-8"),
            ("report.html", report.report_html(summary, rows), "text/html; charset=utf-8"),
        ):
            s3.put_object(Bucket=env.artifact_bucket, Key=prefix + name, Body=body.encode(), ContentType=content_type)
    dynamodb.update_item(
        TableName=env.table_name,
        Key=records.key(run_id, records.META),
        UpdateExpression="SET #status = :status, outcome = :outcome, reason = :reason, endedAt = :now, "
        "reportPrefix = :prefix",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=records.to_item(
            {":status": status, ":outcome": outcome, ":reason": reason, ":now": records.iso(now), ":prefix": prefix}
        ),
    )
    if env.topic_arn:
        clients.hub("sns").publish(
            TopicArn=env.topic_arn,
            Subject=f"Patch run {run_id}: {status} ({outcome})"[:SUBJECT_LENGTH],
            Message=_message(summary, env.artifact_bucket, prefix),
        )
    logger.info("run finished", extra={"status": status, "outcome": outcome, "reason": reason})
    metrics.add_metric(name=f"Runs{status.title()}", unit=MetricUnit.Count, value=1)
    return {
        "runId": run_id,
        "status": status,
        "outcome": outcome,
        "reason": reason,
        "errorName": "RunHalted" if status == "HALTED" else "RunFailed",
        "report": f"s3://{env.artifact_bucket}/{prefix}" if env.artifact_bucket else "",
    }


def _decide(
    halt: dict[str, Any], waves: dict[int, Any], targets: list[Any], instances: list[Any]
) -> tuple[str, int, str]:
    if halt:
        error = str(halt.get("Error", "Error"))
        if error in HALTING_NAMES:
            halted = next((w["reason"] for w in waves.values() if w.get("status") == "HALTED"), "")
            return "HALTED", outcomes.FAILED, halted or _cause(halt)
        return "FAILED", outcomes.FAILED, f"{error}: {_cause(halt)}"
    if not instances:
        # Nothing matched anywhere: a mistyped selector must not look like a successful patch run.
        return "FAILED", outcomes.FAILED, "no instance matched the selector in any target"
    outcome = outcomes.combined(t["outcome"] for t in targets)
    succeeded = sum(1 for i in instances if i.get("final", {}).get("status") == outcomes.SUCCEEDED)
    if outcome == outcomes.OK:
        return "SUCCEEDED", outcomes.OK, ""
    if succeeded:
        return "PARTIAL", outcomes.PARTIAL, "some instances were not patched; see the report"
    return "FAILED", outcomes.FAILED, "no instance was patched"


def _wave_summary(
    planned: dict[str, Any], recorded: dict[str, Any] | None, targets: list[Any], halt: dict[str, Any]
) -> dict[str, Any]:
    index = planned["index"]
    own = sorted((t for t in targets if t["waveIndex"] == index), key=lambda t: (t["accountId"], t["region"]))
    recorded = recorded or {}
    unrecorded = "NOT_STARTED" if halt else "UNRECORDED"
    return {
        "index": index,
        "name": planned["name"],
        # A wave still waiting for approval when the run stopped has an approval but no status.
        "status": recorded.get("status", unrecorded),
        "outcome": recorded.get("outcome"),
        "reason": recorded.get("reason", ""),
        "approval": _approval_summary(planned, recorded.get("approval")),
        "counts": outcomes.add_counts(t["counts"] for t in own),
        "targets": [
            {key: t.get(key, "") for key in ("accountId", "region", "status", "outcome", "counts", "error")}
            for t in own
        ],
    }


def _approval_summary(planned: dict[str, Any], approval: dict[str, Any] | None) -> dict[str, Any] | None:
    """Who decided a wave's approval, when, and from where; None for a wave that needed none."""
    if not planned["approval"]["required"]:
        return None
    if approval is None:
        return {"status": "NOT_REQUESTED"}
    fields = (
        "status", "approvalId", "approvers", "unreachableApprovers", "requestedAt", "expiresAt",
        "decidedBy", "decidedAt", "sourceIp", "detail",
    )  # fmt: skip
    return {name: approval[name] for name in fields if name in approval}


def _cause(halt: dict[str, Any]) -> str:
    cause = str(halt.get("Cause", ""))
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
    if bucket:
        lines += ["", f"Report: s3://{bucket}/{prefix}report.html"]
    return "\n".join(line for line in lines if line is not None)


lambda_handler = entry_point(handle)
