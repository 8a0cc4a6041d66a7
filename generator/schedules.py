"""Maintenance windows: ``parameters/schedules-<env>.json`` checked, and rendered as ``output/schedules-<env>.json``.

The hub template is the same for every environment, so the schedules are a template of their own per
environment: one EventBridge Scheduler schedule per window, in one schedule group, each invoking the hub's
StartScheduledRun (``ScheduledRunFunctionArn``, passed as ``StartScheduledRunFunctionArn``) with its run
document, time zone and blackout dates; a role Scheduler may use only to invoke that function. A schedule or
run document change is a change of a generated file, reviewed in the pull request like any template.

A schedules file is refused, one line per problem naming file and field, for: a bad cron or rate expression, an
unknown time zone, a window outside 0..1440 minutes, a blackout date that is not a date, and a run document
that ValidateRun would refuse (checked with the run id its first scheduled start would get).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import fastjsonschema
from awacs import awslambda
from awacs.aws import Allow, Statement
from troposphere import GetAtt, Parameter, Ref, Template
from troposphere.iam import Policy, Role
from troposphere.scheduler import FlexibleTimeWindow, RetryPolicy, Schedule, ScheduleGroup, Target

from generator import naming
from generator.environments import Environment
from generator.iam import policy_document, service_trust
from generator.parameter_files import ParameterFileError, read_json
from generator.scheduled_runs import FUNCTION_OUTPUT
from handlers.contract.errors import InvalidRunDocument
from handlers.contract.schedules import SCHEDULE_NAME_PATTERN, SCHEDULED_TIME, scheduled_run_id

SCHEDULES = "schedules"
FUNCTION_PARAMETER = "StartScheduledRunFunctionArn"
# Scheduler keeps trying a failed invocation for an hour: a window that starts an hour late is still a window.
MAX_EVENT_AGE_SECONDS = 3600
RETRY_ATTEMPTS = 5
# What the document check assumes for concurrency (the hub fills its own defaults at run time).
FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schedules"],
    "properties": {
        "schedules": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "expression", "timezone", "runDocument"],
                "properties": {
                    "name": {"type": "string", "pattern": SCHEDULE_NAME_PATTERN},
                    "description": {"type": "string", "maxLength": 512},
                    "expression": {"type": "string", "maxLength": 256},
                    "timezone": {"type": "string"},
                    "flexibleWindowMinutes": {"type": "integer", "minimum": 0, "maximum": 1440, "default": 0},
                    "runDocument": {"type": "string", "minLength": 1},
                    "enabled": {"type": "boolean", "default": True},
                    "blackoutDates": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["date"],
                            "properties": {"date": {"type": "string"}, "reason": {"type": "string", "maxLength": 200}},
                        },
                    },
                },
            },
        }
    },
}
# EventBridge Scheduler's expressions: cron(minutes hours day-of-month month day-of-week year), rate(n unit).
_CRON_FIELDS = (
    ("minutes", r"[0-9,\-*/]+"),
    ("hours", r"[0-9,\-*/]+"),
    ("day-of-month", r"[0-9,\-*/?LW]+"),
    ("month", r"[0-9A-Za-z,\-*/]+"),
    ("day-of-week", r"[0-9A-Za-z,\-*?L#]+"),
    ("year", r"[0-9,\-*/]+"),
)
_RANGES = {
    "minutes": (0, 59), "hours": (0, 23), "day-of-month": (1, 31), "month": (1, 12), "day-of-week": (1, 7),
    "year": (1970, 2199),
}  # fmt: skip
_RATE = re.compile(r"^rate\((?P<value>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)$")
_AT = re.compile(r"^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$")


@dataclass(frozen=True)
class WindowSchedule:
    """One maintenance window, checked."""

    name: str
    description: str
    expression: str
    timezone: str
    flexible_window_minutes: int
    document: dict[str, Any]
    blackout_dates: tuple[dict[str, str], ...]
    enabled: bool


def files(parameters_dir: Path) -> list[Path]:
    return sorted(parameters_dir.glob(f"{SCHEDULES}-*.json"))


def environment_of(path: Path) -> str:
    return path.name.removeprefix(f"{SCHEDULES}-").removesuffix(".json")


def load_environment(environment: Environment, parameters_dir: Path) -> tuple[WindowSchedule, ...]:
    """The checked windows of ``environment`` (none without a schedules file)."""
    path = parameters_dir / f"{SCHEDULES}-{environment.name}.json"
    return load(path, root=parameters_dir.resolve().parent, environment=environment) if path.exists() else ()


@functools.cache
def _validator() -> Any:
    return fastjsonschema.compile(FILE_SCHEMA)


def load(path: Path, *, root: Path, environment: Environment) -> tuple[WindowSchedule, ...]:
    """Check ``path`` (run documents relative to ``root``, each exactly as ``environment``'s hub will check it: its
    approval policy and defaults); raise ``ParameterFileError`` listing every problem."""
    document = read_json(path, what="schedules file")
    try:
        checked = _validator()(document)
    except fastjsonschema.JsonSchemaValueException as error:
        name = str(error.name)
        field = name.removeprefix("data").removeprefix(".") or "(file)"
        raise ParameterFileError([f"{path}: {field}: {str(error.message).removeprefix(name).strip()}"]) from None
    problems: list[str] = []
    schedules = []
    seen: set[str] = set()
    for index, entry in enumerate(checked["schedules"]):
        where = f"{path}: schedules[{index}]"
        if entry["name"] in seen:
            problems.append(f"{where}.name: {entry['name']!r} is already the name of another schedule")
        seen.add(entry["name"])
        own = [f"{where}.{problem}" for problem in _entry_problems(entry)]
        document_problems, run = _run_document(entry, root, environment)
        own += [f"{where}.runDocument: {problem}" for problem in document_problems]
        problems += own
        if not own:
            schedules.append(
                WindowSchedule(
                    name=entry["name"],
                    description=entry.get("description", ""),
                    expression=entry["expression"],
                    timezone=entry["timezone"],
                    flexible_window_minutes=entry["flexibleWindowMinutes"],
                    document=run,
                    blackout_dates=tuple(entry.get("blackoutDates", [])),
                    enabled=entry["enabled"],
                )
            )
    if problems:
        raise ParameterFileError(problems)
    return tuple(schedules)


def _entry_problems(entry: dict[str, Any]) -> Iterator[str]:
    problem = expression_problem(entry["expression"])
    if problem:
        yield f"expression: {problem}"
    if entry["timezone"] not in available_timezones():
        yield f"timezone: {entry['timezone']!r} is not an IANA time zone (e.g. Europe/London, UTC)"
    dates = [blackout["date"] for blackout in entry.get("blackoutDates", [])]
    for position, text in enumerate(dates):
        try:
            date.fromisoformat(text)
        except ValueError:
            yield f"blackoutDates[{position}].date: {text!r} is not a date (YYYY-MM-DD)"
            continue
        if len(text) != len("2026-12-25"):
            yield f"blackoutDates[{position}].date: {text!r} is not a date (YYYY-MM-DD)"
        elif dates.index(text) != position:
            yield f"blackoutDates[{position}].date: {text} is listed twice"


def expression_problem(expression: str) -> str | None:
    """Why EventBridge Scheduler would refuse ``expression``, or None."""
    if expression.startswith("rate("):
        return _rate_problem(expression)
    if expression.startswith("at("):
        return None if _AT.match(expression) else f"{expression!r}: a one-time schedule is at(yyyy-mm-ddThh:mm:ss)"
    if expression.startswith("cron(") and expression.endswith(")"):
        return _cron_problem(expression, expression[len("cron(") : -1].split(" "))
    return f"{expression!r}: must be cron(...), rate(...) or at(...)"


def _rate_problem(expression: str) -> str | None:
    match = _RATE.match(expression)
    if match is None:
        return f"{expression!r}: a rate is rate(<n> minute[s]|hour[s]|day[s]), e.g. rate(7 days)"
    if match["unit"].endswith("s") == (match["value"] == "1"):
        return f"{expression!r}: the unit is singular for 1 and plural otherwise"
    return None


def _cron_problem(expression: str, fields: list[str]) -> str | None:
    if len(fields) != len(_CRON_FIELDS):
        return f"{expression!r}: a cron expression has 6 fields (minutes hours day-of-month month day-of-week year)"
    for (name, allowed), value in zip(_CRON_FIELDS, fields, strict=True):
        low, high = _RANGES.get(name, (0, 10_000))
        numbers = [int(n) for n in re.findall(r"\d+", value.split("/")[0].split("#")[0])]
        if not re.fullmatch(allowed, value) or any(not low <= n <= high for n in numbers):
            return f"{expression!r}: {name} {value!r} is not valid"
    if (fields[2] == "?") == (fields[4] == "?"):
        return f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'"
    return None


def _run_document(entry: dict[str, Any], root: Path, environment: Environment) -> tuple[list[str], dict[str, Any]]:
    path = root / entry["runDocument"]
    try:
        document = read_json(path, what="run document")
    except ParameterFileError as error:
        return [problem.removeprefix(f"{path}: ") for problem in error.problems], {}
    if isinstance(document, dict) and "runId" in document:
        return [f"{entry['runDocument']}: runId: a scheduled run's id comes from its schedule and time; remove it"], {}
    try:
        environment.normalise_run(
            copy.deepcopy(document),  # the schema check fills in defaults; the schedule carries the file as written
            scheduled_run_id(entry["name"], datetime(2026, 1, 1, tzinfo=UTC)),
        )
    except InvalidRunDocument as error:
        return [f"{entry['runDocument']}: {error}"], {}
    return [], dict(document)


def build_schedules(environment: str, schedules: tuple[WindowSchedule, ...]) -> Template:
    """The schedules template of ``environment``."""
    template = Template(
        Description=f"EC2 Patching Orchestrator maintenance windows ({environment}): schedules that start patch runs."
    )
    template.set_version()
    naming.add_name_prefix(template)
    function_arn = template.add_parameter(
        Parameter(
            FUNCTION_PARAMETER,
            Type="String",
            AllowedPattern=r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+$",
            Description=f"The hub stack's {FUNCTION_OUTPUT} output.",
        )
    )
    group = template.add_resource(ScheduleGroup("PatchWindowsGroup", Name=naming.prefixed("-patch-windows")))
    role = template.add_resource(
        Role(
            "SchedulerRole",
            Description="EventBridge Scheduler: invoke StartScheduledRun, nothing else.",
            AssumeRolePolicyDocument=service_trust("scheduler.amazonaws.com"),
            Policies=[
                Policy(
                    PolicyName="start-scheduled-runs",
                    PolicyDocument=policy_document(
                        [
                            Statement(
                                Sid="InvokeStartScheduledRun",
                                Effect=Allow,
                                Action=[awslambda.InvokeFunction],
                                Resource=[Ref(function_arn)],
                            )
                        ]
                    ),
                )
            ],
        )
    )
    for schedule in schedules:
        template.add_resource(_schedule(schedule, group, role, function_arn))
    return template


def _schedule(schedule: WindowSchedule, group: ScheduleGroup, role: Role, function_arn: Parameter) -> Schedule:
    window = (
        FlexibleTimeWindow(Mode="FLEXIBLE", MaximumWindowInMinutes=schedule.flexible_window_minutes)
        if schedule.flexible_window_minutes
        else FlexibleTimeWindow(Mode="OFF")
    )
    delivery = {
        "schedule": schedule.name,
        "scheduledTime": SCHEDULED_TIME,
        "timezone": schedule.timezone,
        "blackoutDates": list(schedule.blackout_dates),
        "document": schedule.document,
    }
    return Schedule(
        "".join(part.capitalize() for part in schedule.name.split("-")) + "Schedule",
        Name=naming.prefixed(f"-{schedule.name}"),
        GroupName=Ref(group),
        Description=schedule.description or f"Patch window {schedule.name}",
        ScheduleExpression=schedule.expression,
        ScheduleExpressionTimezone=schedule.timezone,
        FlexibleTimeWindow=window,
        State="ENABLED" if schedule.enabled else "DISABLED",
        Target=Target(
            Arn=Ref(function_arn),
            RoleArn=GetAtt(role, "Arn"),
            Input=json.dumps(delivery, sort_keys=True, separators=(",", ":")),
            RetryPolicy=RetryPolicy(
                MaximumEventAgeInSeconds=MAX_EVENT_AGE_SECONDS, MaximumRetryAttempts=RETRY_ATTEMPTS
            ),
        ),
    )
