"""The hub's CloudWatch dashboard: runs, functions, the approval API, the run-stop dead letters, and the
orchestrator's own metrics, in one generated body.

The body is JSON under ``Fn::Sub``: every name in it is a ``${...}`` reference (the state machine, the prefixed
function names, the region), so it is the same text for every environment and byte-for-byte deterministic. A
test holds every metric to one AWS documents or one the handlers print (EMF) in a rehearsal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from troposphere import GetAtt, Ref, Sub, Template
from troposphere.cloudwatch import Dashboard

from generator import metrics, naming
from generator.approval_api import STAGE, ApprovalApiRefs
from generator.lambdas import LambdaRefs
from generator.metrics import Metric
from generator.monitoring import ERROR_LOG_METRIC, PATCH_FAILURE_METRIC
from generator.run_stops import RunStopRefs
from generator.state_machine import StateMachineRefs

WIDTH, HEIGHT, COLUMNS = 12, 6, 2
PERIOD = 300
RUN_PERIOD = 3600
EXECUTION_METRICS = (
    "ExecutionsStarted",
    "ExecutionsSucceeded",
    "ExecutionsFailed",
    "ExecutionsTimedOut",
    "ExecutionsAborted",
)
RUN_OUTCOMES = ("RunsStarted", "RunsSucceeded", "RunsPartial", "RunsHalted", "RunsFailed")
RUN_TOTALS = ("RunInstancesPatched", "RunInstancesFailed", "RunInstancesUnreachable", "RunInstancesNotPatched")
INSTANCE_RESULTS = ("InstancesPatched", "InstancesNotPatched", "InstancesUnreachable")


def add_dashboard(
    template: Template,
    *,
    functions: Sequence[LambdaRefs],
    state_machine: StateMachineRefs,
    approval_api: ApprovalApiRefs,
    run_stops: RunStopRefs,
) -> Dashboard:
    """One dashboard per hub."""
    machine = Ref(state_machine.state_machine)
    finalize = next(refs for refs in functions if refs.spec.name == "Finalize")
    widgets = [
        _graph("Patch runs: executions", [metrics.state_machine(name, machine) for name in EXECUTION_METRICS]),
        _graph(
            "Patch runs: execution duration (ms)",
            [metrics.state_machine("ExecutionTime", machine)] * 2,
            stats=("Average", "p95"),
        ),
        _graph("Runs by outcome", [metrics.orchestrator(name) for name in RUN_OUTCOMES], period=RUN_PERIOD),
        _graph(
            "Instances per run (one point per finished run)",
            [metrics.orchestrator(name) for name in RUN_TOTALS],
            period=RUN_PERIOD,
        ),
        _graph(
            "Instances patched, not patched, unreachable", [metrics.orchestrator(name) for name in INSTANCE_RESULTS]
        ),
        _runs_table(finalize),
        _graph("Function errors", [metrics.function("Errors", refs.function.FunctionName) for refs in functions]),
        _graph("Function throttles", [metrics.function("Throttles", refs.function.FunctionName) for refs in functions]),
        _graph(
            "Function duration p95 (ms)",
            [metrics.function("Duration", refs.function.FunctionName) for refs in functions],
            stats=("p95",) * len(functions),
        ),
        _graph(
            "Handler errors (EMF) and error log lines",
            [metrics.orchestrator("HandlerErrors"), ERROR_LOG_METRIC, PATCH_FAILURE_METRIC],
        ),
        _graph(
            "Approval API responses",
            [metrics.rest_api(name, approval_api.api.Name, STAGE) for name in ("4XXError", "5XXError", "Count")],
        ),
        _graph(
            "Run-stop dead letters (commands may still run)",
            [metrics.queue("ApproximateNumberOfMessagesVisible", run_stops.queue)],
            stats=("Maximum",),
        ),
    ]
    placed = [
        {**widget, "x": (index % COLUMNS) * WIDTH, "y": (index // COLUMNS) * HEIGHT, "width": WIDTH, "height": HEIGHT}
        for index, widget in enumerate(widgets)
    ]
    body = json.dumps({"widgets": placed}, sort_keys=True, separators=(",", ":"))
    return template.add_resource(
        Dashboard("HubDashboard", DashboardName=naming.prefixed("-hub-${AWS::Region}"), DashboardBody=Sub(body))
    )


def _graph(
    title: str, shown: Sequence[Metric], *, stats: Sequence[str] | None = None, period: int = PERIOD
) -> dict[str, Any]:
    chosen = stats or ("Sum",) * len(shown)
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "stacked": False,
            "period": period,
            "metrics": [_metric_row(metric, stat) for metric, stat in zip(shown, chosen, strict=True)],
        },
    }


def _metric_row(metric: Metric, stat: str) -> list[Any]:
    row: list[Any] = [metric.namespace, metric.name]
    for name, value in metric.dimensions:
        row += [name, _sub_text(value)]
    return [*row, {"stat": stat}]


def _runs_table(finalize: LambdaRefs) -> dict[str, Any]:
    """The last runs with their totals, from Finalize's EMF lines (their metadata names the run)."""
    fields = ", ".join(RUN_TOTALS)
    return {
        "type": "log",
        "properties": {
            "title": "Last runs: instances patched, failed, unreachable",
            "region": "${AWS::Region}",
            "view": "table",
            "query": (
                f"SOURCE '{_sub_text(finalize.log_group.LogGroupName)}' | filter ispresent(RunInstancesPatched) "
                f"| fields @timestamp, runId, {fields} | sort @timestamp desc | limit 20"
            ),
        },
    }


def _sub_text(value: Any) -> str:
    """A CloudFormation value as text inside the body's ``Fn::Sub``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sub):
        return str(value.data["Fn::Sub"])
    if isinstance(value, Ref):
        return "${" + str(value.data["Ref"]) + "}"
    if isinstance(value, GetAtt):
        logical_id, attribute = value.data["Fn::GetAtt"]
        return "${" + f"{logical_id}.{attribute}" + "}"
    raise TypeError(f"cannot put {value!r} in the dashboard body")
