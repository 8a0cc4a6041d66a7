"""How instance results roll up (200/206/500), and the report's escaping."""

from __future__ import annotations

import csv
import io

import pytest

from handlers.common import outcomes, report


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"patch": {"status": "Success"}}, ("Succeeded", "")),
        ({"patch": {"status": "Failed", "reason": "Failed: exit 1"}}, ("Failed", "Failed: exit 1")),
        ({"patch": {"status": "TimedOut"}}, ("Failed", "TimedOut")),
        (
            {"patch": {"status": "TimedOut", "statusDetails": "DeliveryTimedOut"}},
            ("Unreachable", "ssm-deliverytimedout"),
        ),
        ({"patch": {"status": "Failed", "statusDetails": "Terminated"}}, ("Unreachable", "ssm-terminated")),
        ({"discovery": {"reachable": False, "reason": "instance-stopped"}}, ("Unreachable", "instance-stopped")),
        ({"discovery": {"reachable": True}}, ("NotPatched", "no patch result from SSM")),
    ],
)
def test_instance_final_state(item: dict[str, object], expected: tuple[str, str]) -> None:
    final = outcomes.instance_final(item)
    assert (final["status"], final["reason"]) == expected


def test_the_target_error_is_the_reason_for_instances_without_a_result() -> None:
    final = outcomes.instance_final({"discovery": {"reachable": True}}, target_error="SpokeAccessDenied: no")
    assert final == {"status": "NotPatched", "reason": "SpokeAccessDenied: no"}


@pytest.mark.parametrize(
    ("succeeded", "failed", "unreachable", "errored", "expected"),
    [
        (3, 0, 0, False, 200),
        (0, 0, 0, False, 200),
        (2, 1, 0, False, 206),
        (2, 0, 1, False, 206),
        (0, 2, 0, False, 500),
        (0, 0, 2, False, 500),
        (0, 0, 0, True, 500),
        (2, 0, 0, True, 200),
    ],
)
def test_target_outcome(succeeded: int, failed: int, unreachable: int, errored: bool, expected: int) -> None:
    counts = {"succeeded": succeeded, "failed": failed, "unreachable": unreachable, "notPatched": 0}
    counts["total"] = sum(counts.values())
    assert outcomes.target_outcome(counts, errored=errored) == expected


def test_combined_outcomes() -> None:
    assert outcomes.combined([200, 200]) == 200
    assert outcomes.combined([500, 500]) == 500
    assert outcomes.combined([200, 500]) == 206
    assert outcomes.combined([206]) == 206


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
