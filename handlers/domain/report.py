"""The run report: ``summary.json`` (machines), ``instances.csv`` (spreadsheets), ``report.html`` (people)."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

INSTANCE_COLUMNS = (
    "wave",
    "accountId",
    "region",
    "instanceId",
    "name",
    "platform",
    "final",
    "reason",
    "patchStatus",
    "responseCode",
    "snapshot",
)


def instance_rows(instances: Sequence[Mapping[str, Any]], wave_names: Mapping[int, str]) -> list[dict[str, Any]]:
    """One flat row per instance, ordered by wave, account, region, instance."""
    rows = []
    for item in instances:
        patch = item.get("patch", {})
        final = item.get("final", {})
        rows.append(
            {
                "wave": wave_names.get(int(item.get("waveIndex", -1)), ""),
                "accountId": item.get("accountId", ""),
                "region": item.get("region", ""),
                "instanceId": item.get("instanceId", ""),
                "name": item.get("name", ""),
                "platform": item.get("platform", ""),
                "final": final.get("status", ""),
                "reason": final.get("reason", ""),
                "patchStatus": patch.get("status", ""),
                "responseCode": patch.get("responseCode", ""),
                "snapshot": item.get("snapshot", {}).get("s3Prefix", ""),
            }
        )
    return sorted(rows, key=lambda row: (row["wave"], row["accountId"], row["region"], row["instanceId"]))


def summary_json(summary: Mapping[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True) + "\n"


def instances_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=INSTANCE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        # A leading =, +, - or @ would be a formula in a spreadsheet: neutralise it.
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return buffer.getvalue()


def report_html(summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    """A self-contained page: run outcome, per-wave and per-target counts, every instance that was not patched."""
    e = html.escape
    waves = []
    for wave in summary["waves"]:
        target_rows = "".join(
            f"<tr><td>{e(t['accountId'])}</td><td>{e(t['region'])}</td><td>{e(t['status'])}</td>"
            f"<td>{t['outcome']}</td>{_count_cells(t['counts'])}<td>{e(t.get('error', ''))}</td></tr>"
            for t in wave["targets"]
        )
        waves.append(
            f"<section><h2>Wave {e(wave['name'])}: {e(wave['status'])}"
            f"{' (' + str(wave['outcome']) + ')' if wave.get('outcome') else ''}</h2>"
            f"<p>{e(wave.get('reason', ''))}</p>"
            + (f"<p>Approval: {e(approval_text(wave['approval']))}</p>" if wave.get("approval") else "")
            + "<table><thead><tr><th>Account</th><th>Region</th><th>Status</th><th>Outcome</th><th>Succeeded</th>"
            "<th>Failed</th><th>Unreachable</th><th>Not patched</th><th>Error</th></tr></thead>"
            f"<tbody>{target_rows}</tbody></table></section>"
        )
    problems = [row for row in rows if row["final"] != "Succeeded"]
    problem_rows = "".join(
        f"<tr><td>{e(r['wave'])}</td><td>{e(r['accountId'])}</td><td>{e(r['region'])}</td>"
        f"<td>{e(r['instanceId'])}</td><td>{e(r['name'])}</td><td>{e(r['final'])}</td><td>{e(str(r['reason']))}</td></tr>"
        for r in problems
    )
    totals = summary["totals"]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Patch run {e(summary['runId'])}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin:.5rem 0}"
        "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}th{background:#f4f4f4}"
        "</style></head><body>"
        f"<h1>Patch run {e(summary['runId'])}: {e(summary['status'])} ({summary['outcome']})</h1>"
        f"<p>{e(summary.get('reason', ''))}</p>"
        f"<p>Operation {e(summary['operation'])}, started {e(summary['startedAt'])}, ended {e(summary['endedAt'])}."
        f" Instances: {totals['succeeded']} succeeded, {totals['failed']} failed, {totals['unreachable']} unreachable,"
        f" {totals['notPatched']} not patched, of {totals['total']}.</p>"
        + "".join(waves)
        + f"<section><h2>Instances not patched ({len(problems)})</h2>"
        "<table><thead><tr><th>Wave</th><th>Account</th><th>Region</th><th>Instance</th><th>Name</th><th>State</th>"
        f"<th>Reason</th></tr></thead><tbody>{problem_rows}</tbody></table></section></body></html>\n"
    )


def approval_text(approval: Mapping[str, Any]) -> str:
    """``APPROVED by ops@example.com at 2026-12-08T10:00:00Z from 203.0.113.7`` (or what is known of it)."""
    if approval.get("detail"):
        return f"{approval['status']} ({approval['detail']})"
    text = str(approval["status"])
    if approval.get("decidedBy"):
        text += f" by {approval['decidedBy']}"
    if approval.get("decidedAt"):
        text += f" at {approval['decidedAt']}"
    if approval.get("sourceIp"):
        text += f" from {approval['sourceIp']}"
    return text


def _count_cells(counts: Mapping[str, int]) -> str:
    return "".join(f"<td>{counts.get(key, 0)}</td>" for key in ("succeeded", "failed", "unreachable", "notPatched"))


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
