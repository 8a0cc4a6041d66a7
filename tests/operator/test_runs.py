"""An operator starts, watches, inspects and reports on a rehearsed run with patchctl."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from rehearsal.fleet import Behaviour
from rehearsal.hub import Rehearsal
from tests.operator.conftest import Patchctl

ROOT = Path(__file__).resolve().parents[2]
CANARY, FLEET = "111111111111", "222222222222"
REGION = "eu-west-1"


def document(**settings: Any) -> dict[str, Any]:
    return {
        "operation": "Install",
        "rebootOption": "NoReboot",
        "selector": {"tags": {"PatchGroup": ["web"]}},
        "preCollect": {"enabled": False},
        "waves": [
            {"name": "canary", "targets": [{"accounts": [CANARY], "regions": [REGION]}]},
            {
                "name": "fleet",
                "targets": [{"accounts": [FLEET], "regions": [REGION]}],
                "failureBudget": {"failedPercent": 50},
            },
        ],
        **settings,
    }


def written(tmp_path: Path, content: Any, name: str = "run.json") -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def partial_fleet(hub: Rehearsal) -> str:
    """Two canary instances that patch, and a fleet account where one of three fails: a 206 run."""
    hub.fleet.add(CANARY, REGION, 2)
    hub.fleet.add(FLEET, REGION, 2)
    return hub.fleet.add(FLEET, REGION, 1, patch=Behaviour(status="Failed", response_code=1, stderr="yum: no repo"))[0]


def test_start_checks_the_document_and_names_the_execution_by_its_run_id(
    hub: Rehearsal, patchctl: Patchctl, tmp_path: Path
) -> None:
    partial_fleet(hub)

    result = patchctl("start", written(tmp_path, document()), "--run-id", "december")

    assert result.exit_code == 0, result.output
    assert (
        result.stdout.splitlines()[0]
        == f"started december: {hub.state_machine_arn.replace('stateMachine', 'execution')}:december"
    )
    assert (
        hub.wait(f"{hub.state_machine_arn.replace(':stateMachine:', ':execution:')}:december")["status"] == "SUCCEEDED"
    )


def test_start_without_a_run_id_takes_the_documents_and_dry_run_starts_nothing(
    hub: Rehearsal, patchctl: Patchctl
) -> None:
    result = patchctl("start", str(ROOT / "examples" / "canary-then-fleet.json"), "--dry-run")

    assert result.exit_code == 0, result.output
    assert "run 2026-12-patch-tuesday would patch 2 wave(s), 5 target(s)" in result.stdout
    assert patchctl("runs").stdout == "no runs\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"operation": ', "not JSON: Expecting value at line 1 column 15"),
        ({"operation": "Install", "waves": []}, "(document): must contain ['rebootOption', 'selector'] properties"),
        (document(waves=[{"name": "w", "targets": [{"accounts": [CANARY], "regions": ["eu-mars-1"]}]}]),
         "waves[0].targets[0].regions[0]: 'eu-mars-1' is not a known AWS region"),
        (document(rerun={"of": "never-ran"}), "rerun.of: no run 'never-ran' has been recorded"),
    ],
)  # fmt: skip
def test_start_refuses_a_bad_document_in_one_line_naming_the_file_and_field(
    hub: Rehearsal, patchctl: Patchctl, tmp_path: Path, content: Any, expected: str
) -> None:
    path = written(tmp_path, content)

    result = patchctl("start", path, "--run-id", "bad")

    assert result.exit_code == 1
    assert result.stderr == f"Error: {path}: {expected}\n"
    assert patchctl("runs").stdout == "no runs\n"


def test_start_refuses_a_run_id_used_before(hub: Rehearsal, patchctl: Patchctl, tmp_path: Path) -> None:
    partial_fleet(hub)
    hub.run(document(), "used")

    result = patchctl("start", written(tmp_path, document()), "--run-id", "used")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: run id 'used' was used already (PARTIAL, started ")
    assert len(result.stderr.splitlines()) == 1


def test_watch_when_not_a_terminal_prints_a_line_per_change_and_the_outcome(
    hub: Rehearsal, patchctl: Patchctl, tmp_path: Path
) -> None:
    partial_fleet(hub)
    assert patchctl("start", written(tmp_path, document()), "--run-id", "watched").exit_code == 0

    result = patchctl("watch", "watched", "--interval", "0.02")

    assert result.exit_code == 3  # ended, but not everything was patched
    assert "\x1b" not in result.stdout  # no terminal control codes in a log
    text = [line.split(" ", 1)[1] for line in result.stdout.splitlines()[:-1]]  # without the clock
    assert len(set(text)) == len(text)  # a line only when something changed
    last = {line.split(":")[0]: line for line in text}
    assert last["run watched"] == (
        "run watched: PARTIAL (206), patched 4, failed 1, unreachable 0 of 5: "
        "some instances were not patched; see the report"
    )
    assert last["wave canary"] == "wave canary: COMPLETED, targets 1/1, patched 2, failed 0, unreachable 0 of 2"
    assert last["wave fleet"].startswith("wave fleet: COMPLETED, targets 1/1, patched 2, failed 1, unreachable 0 of 3")
    assert (
        last[f"  {FLEET}/{REGION}"] == f"  {FLEET}/{REGION}: COMPLETED (206), patched 2, failed 1, unreachable 0 of 3"
    )
    assert result.stdout.splitlines()[-1] == "run watched ended: execution SUCCEEDED, run PARTIAL"


def test_status_shows_the_execution_and_each_wave_and_target(hub: Rehearsal, patchctl: Patchctl) -> None:
    partial_fleet(hub)
    hub.run(document(), "inspected")

    result = patchctl("status", f"{hub.state_machine_arn.replace(':stateMachine:', ':execution:')}:inspected")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("execution SUCCEEDED since ")
    assert "run inspected: PARTIAL (206), patched 4, failed 1, unreachable 0 of 5" in lines[2]
    assert f"  {CANARY}/{REGION}: COMPLETED (200), patched 2, failed 0, unreachable 0 of 2" in lines


def test_runs_lists_recent_runs_with_their_outcome(hub: Rehearsal, patchctl: Patchctl) -> None:
    partial_fleet(hub)
    hub.run(document(), "first")
    hub.run({"runId": "refused", "waves": []}, "refused")

    lines = patchctl("runs").stdout.splitlines()

    assert lines[0].split() == ["RUN", "EXECUTION", "RUN", "STATUS", "OUTCOME", "STARTED", "ENDED"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    assert rows == {"first": ["SUCCEEDED", "PARTIAL", "206"], "refused": ["FAILED", "-", "-"]}
    assert [line.split()[0] for line in patchctl("runs", "--status", "FAILED").stdout.splitlines()[1:]] == ["refused"]


def test_report_prints_the_summary_and_writes_the_csv_and_html(
    hub: Rehearsal, patchctl: Patchctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = partial_fleet(hub)
    hub.run(document(), "reported")
    opened: list[str] = []
    monkeypatch.setattr("click.launch", lambda url, **_: opened.append(url) or 0)
    html = tmp_path / "report.html"

    result = patchctl("report", "reported", "--csv", "-", "--html", str(html), "--open")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "run reported: PARTIAL (206): some instances were not patched; see the report"
    assert "instances: 4 succeeded, 1 failed, 0 unreachable, 0 not patched, of 5" in lines
    assert "wave fleet: COMPLETED (206), 2 succeeded, 1 failed, 0 unreachable of 3" in lines
    assert "report: s3://patch-orchestrator-artifacts-test/runs/reported/report/" in lines
    rows = list(
        csv.DictReader(io.StringIO(result.stdout[result.stdout.index("wave,accountId") :].split("\nwrote ")[0]))
    )
    assert {row["instanceId"]: row["final"] for row in rows if row["final"] != "Succeeded"} == {broken: "Failed"}
    assert "<h1>Patch run reported: PARTIAL (206)</h1>" in html.read_text()
    assert opened == [str(html.resolve())]


def test_report_of_a_run_that_is_still_going_says_when_it_will_exist(hub: Rehearsal, patchctl: Patchctl) -> None:
    hub.invoke("ValidateRun", {"runId": "going", "executionId": "arn:execution:going", "document": document()})

    result = patchctl("report", "going")

    assert result.exit_code == 1
    assert (
        result.stderr
        == "Error: run going is still running; its report is written when it ends (patchctl watch going)\n"
    )
