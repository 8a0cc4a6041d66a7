"""The run report: escaped HTML for people, formula-safe CSV for spreadsheets, approvals in words."""

from __future__ import annotations

import csv
import io

from handlers.domain import report

HOSTILE = {
    "wave": "w",
    "accountId": "1",
    "region": "eu-west-1",
    "instanceId": "i-1",
    "name": "<script>alert(1)</script>",
    "platform": "linux",
    "final": "Failed",
    "reason": '=HYPERLINK("http://x")',
    "patchStatus": "Failed",
    "responseCode": 1,
    "snapshot": "",
}


def test_report_html_escapes_instance_data() -> None:
    summary = {
        "runId": "r<1>",
        "status": "PARTIAL",
        "outcome": 206,
        "reason": "",
        "operation": "Install",
        "startedAt": "a",
        "endedAt": "b",
        "totals": {"succeeded": 0, "failed": 1, "unreachable": 0, "notPatched": 0, "total": 1},
        "waves": [],
    }
    page = report.report_html(summary, [HOSTILE])
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "r&lt;1&gt;" in page


def test_csv_neutralises_formulas() -> None:
    rows = list(csv.DictReader(io.StringIO(report.instances_csv([HOSTILE]))))
    assert rows[0]["reason"].startswith("'=")


def test_instance_rows_are_ordered_and_name_their_wave() -> None:
    instances = [
        {"waveIndex": 1, "accountId": "2", "region": "eu-west-1", "instanceId": "i-2", "final": {"status": "Failed"}},
        {"waveIndex": 0, "accountId": "1", "region": "eu-west-1", "instanceId": "i-1", "patch": {"status": "Success"}},
    ]

    rows = report.instance_rows(instances, {0: "canary", 1: "fleet"})

    assert [(row["wave"], row["instanceId"], row["final"], row["patchStatus"]) for row in rows] == [
        ("canary", "i-1", "", "Success"),
        ("fleet", "i-2", "Failed", ""),
    ]
    assert list(rows[0]) == list(report.INSTANCE_COLUMNS)


def test_an_approval_reads_as_who_decided_when_and_from_where() -> None:
    decided = {
        "status": "APPROVED",
        "decidedBy": "ops@example.com",
        "decidedAt": "2026-12-08T10:00:00Z",
        "sourceIp": "203.0.113.7",
    }

    assert report.approval_text(decided) == "APPROVED by ops@example.com at 2026-12-08T10:00:00Z from 203.0.113.7"
    assert report.approval_text({"status": "REJECTED", "detail": "rejected by lead"}) == "REJECTED (rejected by lead)"
    assert report.approval_text({"status": "NOT_REQUESTED"}) == "NOT_REQUESTED"
