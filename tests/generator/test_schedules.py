"""Maintenance windows kept in the repository: checked like parameter files, rendered as one template per
environment whose schedules may only invoke StartScheduledRun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator import environments, schedules
from generator.__main__ import cli
from generator.build import templates
from generator.parameter_files import ParameterFileError
from handlers.contract.schedules import SCHEDULED_TIME
from rehearsal.template import generated_template

ROOT = Path(__file__).resolve().parents[2]
# Run documents are checked as dev's hub will check them (its approval policy and defaults).
DEV = environments.load("dev", ROOT / "parameters", templates())
WINDOW = {
    "name": "patch-tuesday",
    "expression": "cron(0 22 ? * WED#2 *)",
    "timezone": "Europe/London",
    "flexibleWindowMinutes": 60,
    "runDocument": "examples/scan-only.json",
}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A copy of parameters/ and examples/ to break."""
    shutil.copytree(ROOT / "parameters", tmp_path / "parameters")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def write(repository: Path, *windows: dict[str, Any]) -> Path:
    path = repository / "parameters" / "schedules-dev.json"
    path.write_text(json.dumps({"schedules": list(windows)}))
    return path


def problems(repository: Path, *windows: dict[str, Any]) -> list[str]:
    path = write(repository, *windows)
    with pytest.raises(ParameterFileError) as refused:
        schedules.load(path, root=repository, environment=DEV)
    return [problem.removeprefix(f"{path}: ") for problem in refused.value.problems]


def test_the_prod_window_is_rendered_with_its_time_zone_window_blackouts_and_run_document() -> None:
    template = generated_template("schedules-prod.json")
    (schedule,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert schedule["ScheduleExpression"] == "cron(0 22 ? * WED#2 *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/London"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 60}
    assert schedule["GroupName"] == {"Ref": "PatchWindowsGroup"}
    assert schedule["Target"]["Arn"] == {"Ref": "StartScheduledRunFunctionArn"}
    delivery = json.loads(schedule["Target"]["Input"])
    assert delivery["scheduledTime"] == SCHEDULED_TIME == "<aws.scheduler.scheduled-time>"
    assert delivery["document"] == json.loads((ROOT / "examples" / "scheduled-canary-then-fleet.json").read_text())
    assert delivery["blackoutDates"][0] == {"date": "2026-12-23", "reason": "year-end change freeze"}
    assert schedule["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] == 3600


def test_the_scheduler_role_may_only_invoke_start_scheduled_run() -> None:
    role = generated_template("schedules-prod.json")["Resources"]["SchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Fn::Sub": "${AWS::AccountId}"}}}
    (policy,) = role["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "InvokeStartScheduledRun",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [{"Ref": "StartScheduledRunFunctionArn"}],
        }
    ]


def test_the_hub_names_the_function_the_schedules_invoke_and_it_may_start_only_this_state_machine() -> None:
    hub = generated_template("hub.json")
    assert hub["Outputs"]["ScheduledRunFunctionArn"]["Value"] == {"Fn::GetAtt": ["StartScheduledRunFunction", "Arn"]}
    statements = hub["Resources"]["StartScheduledRunFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (start,) = [s for s in statements["Statement"] if s["Sid"] == "StartPatchRuns"]
    assert start["Action"] == ["states:StartExecution"]
    assert start["Resource"] == [{"Ref": "PatchRunStateMachine"}]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"expression": "cron(0 22 * * WED *)"}, "exactly one of day-of-month and day-of-week must be '?'"),
        ({"expression": "cron(0 25 ? * WED *)"}, "hours '25' is not valid"),
        ({"expression": "cron(0 22 ? * WED)"}, "a cron expression has 6 fields"),
        ({"expression": "rate(1 days)"}, "the unit is singular for 1 and plural otherwise"),
        ({"expression": "every tuesday"}, "must be cron(...), rate(...) or at(...)"),
    ],
)
def test_a_bad_expression_is_refused_naming_the_field(repository: Path, change: dict[str, str], expected: str) -> None:
    (problem,) = problems(repository, {**WINDOW, **change})
    assert problem.startswith("schedules[0].expression: ")
    assert expected in problem


def test_a_bad_time_zone_window_date_or_duplicate_name_is_refused_naming_each(repository: Path) -> None:
    found = problems(
        repository,
        {**WINDOW, "timezone": "Europe/Atlantis", "blackoutDates": [{"date": "2026-13-01"}, {"date": "2026-12-24"}]},
        {**WINDOW, "blackoutDates": [{"date": "2026-12-24"}, {"date": "2026-12-24"}]},
    )
    assert found == [
        "schedules[0].timezone: 'Europe/Atlantis' is not an IANA time zone (e.g. Europe/London, UTC)",
        "schedules[0].blackoutDates[0].date: '2026-13-01' is not a date (YYYY-MM-DD)",
        "schedules[1].name: 'patch-tuesday' is already the name of another schedule",
        "schedules[1].blackoutDates[1].date: 2026-12-24 is listed twice",
    ]
    (window,) = problems(repository, {**WINDOW, "flexibleWindowMinutes": 2000})
    assert window == "schedules[0].flexibleWindowMinutes: must be smaller than or equal to 1440"


def test_a_run_document_validaterun_would_refuse_is_refused_by_file_and_field(repository: Path) -> None:
    bad = repository / "examples" / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "operation": "Install",
                "rebootOption": "NoReboot",
                "selector": {"tags": {"PatchGroup": ["web"]}},
                "waves": [],
            }
        )
    )

    assert problems(repository, {**WINDOW, "runDocument": "examples/bad.json"}) == [
        "schedules[0].runDocument: examples/bad.json: waves: must contain at least 1 items"
    ]
    assert problems(repository, {**WINDOW, "runDocument": "examples/canary-then-fleet.json"}) == [
        "schedules[0].runDocument: examples/canary-then-fleet.json: runId: a scheduled run's id comes from its "
        "schedule and time; remove it"
    ]
    assert problems(repository, {**WINDOW, "runDocument": "examples/missing.json"}) == [
        "schedules[0].runDocument: cannot read the run document: No such file or directory"
    ]


def test_build_and_validate_refuse_a_bad_schedules_file_in_one_line_each(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(repository, {**WINDOW, "timezone": "Mars/Olympus", "extra": 1})
    monkeypatch.chdir(repository)

    built = CliRunner().invoke(cli, ["build", "--output-dir", str(repository / "out")])
    validated = CliRunner().invoke(cli, ["validate", "dev"])

    for result in (built, validated):
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        assert "parameters/schedules-dev.json: schedules[0]: must not contain {'extra'} properties" in result.output
    assert not (repository / "out").exists()
