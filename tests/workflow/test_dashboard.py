"""The hub's dashboard shows only metrics this stack really emits: AWS's own for its resources, and for the
orchestrator's namespace, what the handlers print as EMF while rehearsed runs succeed, patch partly, halt and fail.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from handlers.contract.conventions import METRICS_NAMESPACE
from handlers.runtime.observability import logger
from rehearsal.fleet import Behaviour
from rehearsal.hub import Rehearsal
from rehearsal.template import generated_template
from tests.generator.aws_metrics import AWS_METRICS
from tests.workflow.test_patch_run import document, wave

A, B = "111111111111", "222222222222"
REGION = "eu-west-1"


def widgets(hub: dict[str, Any]) -> list[dict[str, Any]]:
    body = hub["Resources"]["HubDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return list(json.loads(body)["widgets"])


def metric_rows(hub: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, name, dimensions) of every metric of every graph."""
    rows = []
    for widget in widgets(hub):
        for row in widget["properties"].get("metrics", []):
            namespace, name, *pairs, _options = row
            rows.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return rows


def emitted(output: str) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, metric, dimensions with values) of every EMF line the handlers printed."""
    found = set()
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = frozenset((name, blob[name]) for name in dimension_set)
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], dimensions))
    return found


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The handlers' JSON log lines, formatted as in their log groups."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_every_orchestrator_metric_on_the_dashboard_is_printed_by_the_handlers(
    hub: Rehearsal, capsys: pytest.CaptureFixture[str], log_lines: io.StringIO
) -> None:
    hub.fleet.add(A, REGION, 2)
    hub.run(document(wave("all", [A], ["eu-west-1"])), "all-patched")
    hub.fleet.add(A, REGION, 1, patch=Behaviour(status="Failed", response_code=1))
    hub.fleet.add(A, REGION, 1, ping="ConnectionLost")
    hub.run(
        document(wave("all", [A], ["eu-west-1"], failureBudget={"failedPercent": 100, "unreachablePercent": 100})),
        "partial",
    )
    hub.denied_accounts.add(B)
    hub.run(document(wave("canary", [B], ["eu-west-1"]), wave("fleet", [A], ["eu-west-1"])), "halted")
    hub.run(
        document(
            wave("none", [A], ["eu-west-1"]),
        )
        | {"selector": {"tags": {"PatchGroup": ["db"]}}},
        "nothing",
    )
    printed = emitted(capsys.readouterr().out)

    shown = [
        (ns, name, dims) for ns, name, dims in metric_rows(generated_template("hub.json")) if ns == METRICS_NAMESPACE
    ]
    assert len(shown) == 13
    for namespace, name, dimensions in shown:
        assert (namespace, name, frozenset(dimensions.items())) in printed, name
    # The patch-failure filter's fields, as RecordTarget logs them ({ ($.message = ...) && ($.failed > 0) }).
    logged = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    failures = [line for line in logged if line["message"] == "target recorded" and line["failed"] > 0]
    assert [(line["correlation_id"], line["failed"]) for line in failures] == [("partial", 1)]


def test_every_aws_metric_on_the_dashboard_is_one_aws_publishes_for_this_stacks_resources() -> None:
    hub = generated_template("hub.json")
    resources = hub["Resources"]
    function_names = {
        r["Properties"]["FunctionName"]["Fn::Sub"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"
    }
    filtered = {
        (t["MetricNamespace"], t["MetricName"])
        for r in resources.values() if r["Type"] == "AWS::Logs::MetricFilter"
        for t in r["Properties"]["MetricTransformations"]
    }  # fmt: skip
    values = {
        "StateMachineArn": {"${PatchRunStateMachine}"},
        "FunctionName": function_names,
        "ApiName": {resources["ApprovalApi"]["Properties"]["Name"]["Fn::Sub"]},
        "Stage": {resources["ApprovalApiStage"]["Properties"]["StageName"]},
        "QueueName": {"${RunStopDeadLetterQueue.QueueName}"},
    }
    charted_functions = set()
    for namespace, name, dimensions in metric_rows(hub):
        if namespace == METRICS_NAMESPACE:
            continue
        if namespace == f"{METRICS_NAMESPACE}/Logs":
            assert (namespace, name) in filtered
            continue
        dimension_names, names = AWS_METRICS[namespace]
        assert name in names, name
        assert set(dimensions) == dimension_names, (name, dimensions)
        for dimension, value in dimensions.items():
            assert value in values[dimension], (name, dimension, value)
        charted_functions |= {dimensions["FunctionName"]} if "FunctionName" in dimensions else set()
    assert charted_functions == function_names


def test_the_runs_table_reads_finalizes_log_group_and_the_body_is_one_sub_of_known_names() -> None:
    hub = generated_template("hub.json")
    (table,) = [w for w in widgets(hub) if w["type"] == "log"]
    assert table["properties"]["query"].startswith(
        "SOURCE '/aws/lambda/${NamePrefix}-finalize' | filter ispresent(RunInstancesPatched)"
    )
    body = hub["Resources"]["HubDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    references = set(re.findall(r"\$\{([^}]+)\}", body))
    assert references == {"AWS::Region", "NamePrefix", "PatchRunStateMachine", "RunStopDeadLetterQueue.QueueName"}
    # Laid out on a 24-column grid without overlaps.
    cells = {(w["x"], w["y"]) for w in widgets(hub)}
    assert len(cells) == len(widgets(hub))
    assert all(w["x"] + w["width"] <= 24 for w in widgets(hub))
