"""Alarms that reach people: what they watch, where they go, how missing data counts, and that each names a
metric this stack really has."""

from __future__ import annotations

from typing import Any

import pytest

from generator import monitoring
from handlers.contract.conventions import METRICS_NAMESPACE
from rehearsal.template import generated_template
from tests.generator.aws_metrics import AWS_METRICS

PAGING = {"RepeatedRunFailuresAlarm", "RunStopDeadLettersAlarm"}


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return generated_template("hub.json")


def of_type(hub: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in hub["Resources"].items() if r["Type"] == kind}


def metric_of(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, name, dimensions) of every metric an alarm reads, single-metric or metric math."""
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"], {d["Name"]: d["Value"] for d in alarm["Dimensions"]})]
    return [
        (
            query["MetricStat"]["Metric"]["Namespace"],
            query["MetricStat"]["Metric"]["MetricName"],
            {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]},
        )
        for query in alarm["Metrics"]
        if "MetricStat" in query
    ]


def test_the_state_machine_alarms_on_failed_timed_out_throttled_and_aborted_executions(hub: dict[str, Any]) -> None:
    alarms = of_type(hub, "AWS::CloudWatch::Alarm")
    watched = {
        alarm["MetricName"]
        for alarm in alarms.values()
        if alarm.get("Namespace") == "AWS/States"
        and alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "PatchRunStateMachine"}}]
    }
    assert watched == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionThrottled", "ExecutionsAborted"}


def test_every_function_alarms_on_errors_throttles_and_a_p95_duration_near_its_timeout(hub: dict[str, Any]) -> None:
    alarms = of_type(hub, "AWS::CloudWatch::Alarm")
    for name, function in of_type(hub, "AWS::Lambda::Function").items():
        own = {
            alarm["MetricName"]: alarm
            for alarm in alarms.values()
            if alarm.get("Namespace") == "AWS/Lambda"
            and alarm["Dimensions"] == [{"Name": "FunctionName", "Value": function["FunctionName"]}]
        }
        assert set(own) == {"Errors", "Throttles", "Duration"}, name
        duration = own["Duration"]
        assert duration["ExtendedStatistic"] == "p95"
        assert duration["Threshold"] == int(function["Timeout"] * 1000 * monitoring.DURATION_SHARE_OF_TIMEOUT)
        assert duration["Threshold"] < function["Timeout"] * 1000
        assert own["Throttles"]["EvaluationPeriods"] == own["Throttles"]["DatapointsToAlarm"] == 2


def test_approval_api_server_errors_and_dead_letters_alarm_on_the_real_resources(hub: dict[str, Any]) -> None:
    alarms = of_type(hub, "AWS::CloudWatch::Alarm")
    api = alarms["ApprovalApiServerErrorsAlarm"]
    assert (api["Namespace"], api["MetricName"]) == ("AWS/ApiGateway", "5XXError")
    assert api["Dimensions"] == [
        {"Name": "ApiName", "Value": hub["Resources"]["ApprovalApi"]["Properties"]["Name"]},
        {"Name": "Stage", "Value": hub["Resources"]["ApprovalApiStage"]["Properties"]["StageName"]},
    ]
    queue = alarms["RunStopDeadLettersAlarm"]
    assert (queue["MetricName"], queue["Statistic"], queue["Threshold"]) == (
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
        1,
    )
    assert queue["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["RunStopDeadLetterQueue", "QueueName"]}}
    ]


def test_repeated_run_failures_add_failed_and_timed_out_executions_over_six_hours_and_page(
    hub: dict[str, Any],
) -> None:
    alarm = of_type(hub, "AWS::CloudWatch::Alarm")["RepeatedRunFailuresAlarm"]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    assert queries["badRuns"]["Expression"] == "FILL(failed, 0) + FILL(timedOut, 0)"
    assert [q["Id"] for q in alarm["Metrics"] if q["ReturnData"]] == ["badRuns"]
    assert {q["MetricStat"]["Metric"]["MetricName"] for q in alarm["Metrics"] if "MetricStat" in q} == {
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    }
    assert {q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q} == {6 * 3600}
    assert alarm["Threshold"] == 2


def test_every_alarm_notifies_the_alarm_topic_and_only_the_urgent_ones_page(hub: dict[str, Any]) -> None:
    for name, alarm in of_type(hub, "AWS::CloudWatch::Alarm").items():
        expected = [{"Ref": "AlarmTopic"}, {"Ref": "PageTopic"}] if name in PAGING else [{"Ref": "AlarmTopic"}]
        assert alarm["AlarmActions"] == alarm["OKActions"] == expected, name
        # Deliberate, never CloudWatch's default ("missing"): the hub is idle between patch windows.
        assert alarm["TreatMissingData"] == "notBreaching", name
        # The key and topic policies admit CloudWatch only for alarms named with the prefix.
        assert alarm["AlarmName"]["Fn::Sub"].startswith("${NamePrefix}-"), name


def test_every_alarm_names_a_metric_this_stack_has(hub: dict[str, Any]) -> None:
    filtered = {
        (t["MetricNamespace"], t["MetricName"])
        for f in of_type(hub, "AWS::Logs::MetricFilter").values()
        for t in f["MetricTransformations"]
    }
    for name, alarm in of_type(hub, "AWS::CloudWatch::Alarm").items():
        for namespace, metric, dimensions in metric_of(alarm):
            if namespace in AWS_METRICS:
                dimension_names, metric_names = AWS_METRICS[namespace]
                assert metric in metric_names, (name, metric)
                assert set(dimensions) == dimension_names, (name, dimensions)
            else:
                assert namespace == f"{METRICS_NAMESPACE}/Logs", name
                assert (namespace, metric) in filtered, name
                assert dimensions == {}, name


def test_the_alarm_topics_are_encrypted_with_the_hub_key_which_admits_only_this_stacks_alarms(
    hub: dict[str, Any],
) -> None:
    resources = hub["Resources"]
    for topic in ("AlarmTopic", "PageTopic"):
        assert resources[topic]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["HubKey", "Arn"]}
        statements = resources[f"{topic}Policy"]["Properties"]["PolicyDocument"]["Statement"]
        (allow,) = [s for s in statements if s["Effect"] == "Allow"]
        assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert allow["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":alarm:${NamePrefix}-*")
    key_policy = resources["HubKey"]["Properties"]["KeyPolicy"]["Fn::If"][2]["Statement"]
    (cloudwatch,) = [s for s in key_policy if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_subscriptions_come_from_parameters_and_exist_only_when_given(hub: dict[str, Any]) -> None:
    resources = hub["Resources"]
    assert resources["AlarmTopicEmail"]["Condition"] == monitoring.HAS_ALARM_EMAIL
    assert resources["AlarmTopicEmail"]["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert resources["PageTopicHttps"]["Properties"] | {"Endpoint": None} == {
        "TopicArn": {"Ref": "PageTopic"}, "Protocol": "https", "Endpoint": None,
    }  # fmt: skip
    assert hub["Parameters"]["PageHttpsEndpoint"]["NoEcho"] is True
    assert hub["Parameters"]["AlarmEmail"]["Default"] == hub["Parameters"]["PageHttpsEndpoint"]["Default"] == ""


def test_metric_filters_count_error_lines_of_every_function_and_failed_instances(hub: dict[str, Any]) -> None:
    filters = of_type(hub, "AWS::Logs::MetricFilter")
    log_groups = {
        filters[name]["LogGroupName"]["Ref"]
        for name in filters
        if filters[name]["FilterPattern"] == monitoring.ERROR_LOG_PATTERN
    }
    functions = of_type(hub, "AWS::Lambda::Function")
    assert log_groups == {f["LoggingConfig"]["LogGroup"]["Ref"] for f in functions.values()}
    patch = filters["PatchFailuresFilter"]
    assert patch["LogGroupName"] == {"Ref": "RecordTargetLogGroup"}
    assert patch["FilterPattern"] == '{ ($.message = "target recorded") && ($.failed > 0) }'
    assert patch["MetricTransformations"][0]["MetricValue"] == "$.failed"
