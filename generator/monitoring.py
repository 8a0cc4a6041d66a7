"""Alarms that reach people: two topics under the hub key, the alarms on the hub's metrics, and log filters.

Every alarm notifies the **alarm topic** (the incident channel: ``AlarmEmail``, or a chat integration subscribed
to ``AlarmTopicArn``). Repeated run failures and messages in the run-stop dead-letter queue also notify the
**page topic** (``PageHttpsEndpoint``, a pager's integration URL), because both mean a person must act now:
patching keeps failing, or commands may be running that nothing watches.

``TreatMissingData`` is chosen per alarm: the hub is idle between patch windows, so most metrics have no data
most of the time, and no data means nothing happened (``notBreaching``). Alarms named ``${NamePrefix}-...``:
the hub key and the topics admit CloudWatch only for alarms of that name, in this account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from awacs import sns
from awacs.aws import Allow, ArnLike, Condition, Principal, Statement, StringEquals
from troposphere import Equals, Not, Output, Parameter, Ref, Template
from troposphere.cloudwatch import Alarm, MetricDataQuery, MetricStat
from troposphere.cloudwatch import Metric as MetricSpec
from troposphere.logs import MetricFilter, MetricTransformation
from troposphere.sns import SubscriptionResource, Topic, TopicPolicy

from generator import metrics, naming
from generator.approval_api import STAGE, ApprovalApiRefs
from generator.encryption import EncryptionRefs
from generator.iam import arn, deny_insecure_transport, policy_document
from generator.lambdas import LambdaRefs
from generator.metrics import Metric
from generator.run_stops import RunStopRefs
from generator.state_machine import StateMachineRefs

HAS_ALARM_EMAIL = "HasAlarmEmail"
HAS_PAGE_ENDPOINT = "HasPageEndpoint"
PERIOD = 300
# A function whose p95 duration reaches this share of its timeout is about to time out for real.
DURATION_SHARE_OF_TIMEOUT = 0.8
# Two runs ending badly within this long is a pattern, not bad luck.
REPEATED_FAILURES_WINDOW = 6 * 3600
REPEATED_FAILURES = 2
# JSON log lines at level ERROR: Powertools' own, and the Lambda runtime's record of an uncaught exception (older
# runtime interface clients call the field log_level).
ERROR_LOG_PATTERN = '{ ($.level = "ERROR") || ($.log_level = "ERROR") }'
# RecordTarget's "target recorded" line carries the target's counts.
PATCH_FAILURE_PATTERN = '{ ($.message = "target recorded") && ($.failed > 0) }'
ERROR_LOG_METRIC = metrics.from_logs("ErrorLogEvents")
PATCH_FAILURE_METRIC = metrics.from_logs("InstancesFailedPatching")


@dataclass(frozen=True)
class MonitoringRefs:
    alarm_topic: Topic
    page_topic: Topic
    alarms: tuple[Alarm, ...]


def add_monitoring(
    template: Template,
    encryption: EncryptionRefs,
    *,
    functions: Sequence[LambdaRefs],
    state_machine: StateMachineRefs,
    approval_api: ApprovalApiRefs,
    run_stops: RunStopRefs,
) -> MonitoringRefs:
    """The topics and their subscriptions, every alarm, and the log metric filters."""
    alarm_email, page_endpoint = _parameters(template)
    alarm_topic = _topic(template, "AlarmTopic", "-alarms", "Patch orchestrator alarms", encryption)
    page_topic = _topic(template, "PageTopic", "-pages", "Patch orchestrator pages", encryption)
    template.add_resource(
        SubscriptionResource(
            "AlarmTopicEmail", Condition=HAS_ALARM_EMAIL, TopicArn=Ref(alarm_topic), Protocol="email",
            Endpoint=Ref(alarm_email),
        )
    )  # fmt: skip
    template.add_resource(
        SubscriptionResource(
            "PageTopicHttps", Condition=HAS_PAGE_ENDPOINT, TopicArn=Ref(page_topic), Protocol="https",
            Endpoint=Ref(page_endpoint),
        )
    )  # fmt: skip
    notify = [Ref(alarm_topic)]
    page = [Ref(alarm_topic), Ref(page_topic)]
    machine = Ref(state_machine.state_machine)
    alarms = [
        *_execution_alarms(machine, notify),
        _repeated_failures_alarm(machine, page),
        *[alarm for refs in functions for alarm in _function_alarms(refs, notify)],
        _threshold_alarm(
            "ApprovalApiServerErrorsAlarm", "-approval-api-5xx",
            "The approval API answered with a server error: approvers may be unable to decide.",
            metrics.rest_api("5XXError", approval_api.api.Name, STAGE), notify,
        ),
        _threshold_alarm(
            "RunStopDeadLettersAlarm", "-run-stop-dead-letters",
            "CancelRun could not handle a stopped run: its commands may still be running. See docs/runbook.md "
            "(Abort and cancel).",
            metrics.queue("ApproximateNumberOfMessagesVisible", run_stops.queue), page, statistic="Maximum",
        ),
        _threshold_alarm(
            "HandlerErrorLogsAlarm", "-handler-error-logs",
            "A function logged an error (JSON level ERROR): search its log group for level ERROR.",
            ERROR_LOG_METRIC, notify,
        ),
    ]  # fmt: skip
    for alarm in alarms:
        template.add_resource(alarm)
    _add_metric_filters(template, functions)
    template.add_output(
        [
            Output("AlarmTopicArn", Description="Every alarm: subscribe the incident channel.", Value=Ref(alarm_topic)),
            Output("PageTopicArn", Description="Alarms that page (repeated failures).", Value=Ref(page_topic)),
        ]
    )
    return MonitoringRefs(alarm_topic, page_topic, tuple(alarms))


def _parameters(template: Template) -> tuple[Parameter, Parameter]:
    alarm_email = template.add_parameter(
        Parameter(
            "AlarmEmail",
            Type="String",
            Default="",
            AllowedPattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
            Description="Optional incident-channel address subscribed to every alarm (confirm the email).",
        )
    )
    page_endpoint = template.add_parameter(
        Parameter(
            "PageHttpsEndpoint",
            Type="String",
            Default="",
            AllowedPattern=r"^$|^https://[^\s]+$",
            NoEcho=True,  # a pager's integration URL is a credential
            Description="Optional HTTPS endpoint (a pager's SNS integration URL) for alarms that page.",
        )
    )
    template.add_condition(HAS_ALARM_EMAIL, Not(Equals(Ref(alarm_email), "")))
    template.add_condition(HAS_PAGE_ENDPOINT, Not(Equals(Ref(page_endpoint), "")))
    return alarm_email, page_endpoint


def _topic(template: Template, name: str, suffix: str, display_name: str, encryption: EncryptionRefs) -> Topic:
    topic = template.add_resource(
        Topic(name, TopicName=naming.prefixed(suffix), DisplayName=display_name, KmsMasterKeyId=encryption.key_arn)
    )
    template.add_resource(
        TopicPolicy(
            f"{name}Policy",
            Topics=[Ref(topic)],
            PolicyDocument=policy_document(
                [
                    Statement(
                        Sid="CloudWatchAlarmsOfThisStack",
                        Effect=Allow,
                        Principal=Principal("Service", "cloudwatch.amazonaws.com"),
                        Action=[sns.Publish],
                        Resource=[Ref(topic)],
                        Condition=Condition(
                            [
                                StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
                                ArnLike("aws:SourceArn", arn("cloudwatch", "alarm:${NamePrefix}-*")),
                            ]
                        ),
                    ),
                    deny_insecure_transport("DenyPublishWithoutTls", [sns.Publish], [Ref(topic)]),
                ]
            ),
        )
    )
    return topic


def _execution_alarms(machine: Ref, actions: list[Ref]) -> list[Alarm]:
    """Any execution that failed, timed out, was throttled or aborted: each needs a look."""
    return [
        _threshold_alarm(
            f"StateMachine{name}Alarm", f"-state-machine-{slug}", description, metrics.state_machine(name, machine),
            actions,
        )
        for name, slug, description in (
            ("ExecutionsFailed", "executions-failed", "A patch run's execution failed: patchctl status <run>."),
            ("ExecutionsTimedOut", "executions-timed-out", "A patch run's execution hit its 14-day timeout."),
            ("ExecutionThrottled", "execution-throttled", "Step Functions throttled the state machine."),
            ("ExecutionsAborted", "executions-aborted", "A patch run was stopped; CancelRun cancels its commands."),
        )
    ]  # fmt: skip


def _repeated_failures_alarm(machine: Ref, actions: list[Ref]) -> Alarm:
    """Runs that failed or timed out, added up over a window: two in six hours pages someone."""
    return Alarm(
        "RepeatedRunFailuresAlarm",
        AlarmName=naming.prefixed("-repeated-run-failures"),
        AlarmDescription=(
            f"{REPEATED_FAILURES} or more patch runs failed or timed out within "
            f"{REPEATED_FAILURES_WINDOW // 3600} hours."
        ),
        Metrics=[
            _query("failed", metrics.state_machine("ExecutionsFailed", machine), REPEATED_FAILURES_WINDOW),
            _query("timedOut", metrics.state_machine("ExecutionsTimedOut", machine), REPEATED_FAILURES_WINDOW),
            MetricDataQuery(
                Id="badRuns", Expression="FILL(failed, 0) + FILL(timedOut, 0)", Label="Runs failed or timed out",
                ReturnData=True,
            ),
        ],
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Threshold=REPEATED_FAILURES,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        # FILL makes the sum defined in every window; missing data would mean no run at all, which is fine.
        TreatMissingData="notBreaching",
        AlarmActions=actions,
        OKActions=actions,
    )  # fmt: skip


def _query(query_id: str, metric: Metric, period: int) -> MetricDataQuery:
    return MetricDataQuery(
        Id=query_id,
        MetricStat=MetricStat(
            Metric=MetricSpec(Namespace=metric.namespace, MetricName=metric.name, Dimensions=metric.alarm_dimensions()),
            Period=period,
            Stat="Sum",
        ),
        ReturnData=False,
    )


def _function_alarms(refs: LambdaRefs, actions: list[Ref]) -> list[Alarm]:
    """A function's errors, sustained throttles, and a p95 duration close to its timeout."""
    name, function_name = refs.spec.name, refs.function.FunctionName
    return [
        _threshold_alarm(
            f"{name}ErrorsAlarm", f"-{refs.spec.kebab}-errors",
            f"{name} failed an invocation: see /aws/lambda/<NamePrefix>-{refs.spec.kebab}.",
            metrics.function("Errors", function_name), actions,
        ),
        # Throttles are retried with backoff; two periods in a row means the reservation is too small.
        _threshold_alarm(
            f"{name}ThrottlesAlarm", f"-{refs.spec.kebab}-throttles",
            f"{name} was throttled for 10 minutes: raise its reserved concurrency or lower the run's concurrency.",
            metrics.function("Throttles", function_name), actions, periods=2,
        ),
        Alarm(
            f"{name}DurationAlarm",
            AlarmName=naming.prefixed(f"-{refs.spec.kebab}-duration"),
            AlarmDescription=(
                f"{name}'s p95 duration reached {int(DURATION_SHARE_OF_TIMEOUT * 100)}% of its "
                f"{refs.spec.timeout}-second timeout."
            ),
            Namespace=metrics.LAMBDA,
            MetricName="Duration",
            Dimensions=metrics.function("Duration", function_name).alarm_dimensions(),
            ExtendedStatistic="p95",
            Period=PERIOD,
            EvaluationPeriods=3,
            DatapointsToAlarm=2,
            Threshold=int(refs.spec.timeout * 1000 * DURATION_SHARE_OF_TIMEOUT),
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",  # no invocations: nothing is slow
            AlarmActions=actions,
            OKActions=actions,
        ),
    ]  # fmt: skip


def _threshold_alarm(
    title: str,
    suffix: str,
    description: str,
    metric: Metric,
    actions: list[Ref],
    *,
    statistic: str = "Sum",
    periods: int = 1,
) -> Alarm:
    """At least one event (or message) in ``periods`` consecutive five-minute periods; no data is no event."""
    return Alarm(
        title,
        AlarmName=naming.prefixed(suffix),
        AlarmDescription=description,
        Namespace=metric.namespace,
        MetricName=metric.name,
        Dimensions=metric.alarm_dimensions(),
        Statistic=statistic,
        Period=PERIOD,
        EvaluationPeriods=periods,
        DatapointsToAlarm=periods,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=actions,
        OKActions=actions,
    )


def _add_metric_filters(template: Template, functions: Sequence[LambdaRefs]) -> None:
    """Error lines of every function, and instances that failed to patch (RecordTarget's record of a target)."""
    for refs in functions:
        template.add_resource(
            MetricFilter(
                f"{refs.spec.name}ErrorLogsFilter",
                LogGroupName=Ref(refs.log_group),
                FilterPattern=ERROR_LOG_PATTERN,
                MetricTransformations=[
                    MetricTransformation(
                        MetricNamespace=ERROR_LOG_METRIC.namespace, MetricName=ERROR_LOG_METRIC.name,
                        MetricValue="1", Unit="Count",
                    )
                ],
            )
        )  # fmt: skip
    (record_target,) = (refs for refs in functions if refs.spec.name == "RecordTarget")
    template.add_resource(
        MetricFilter(
            "PatchFailuresFilter",
            LogGroupName=Ref(record_target.log_group),
            FilterPattern=PATCH_FAILURE_PATTERN,
            MetricTransformations=[
                MetricTransformation(
                    MetricNamespace=PATCH_FAILURE_METRIC.namespace, MetricName=PATCH_FAILURE_METRIC.name,
                    MetricValue="$.failed", Unit="Count",
                )
            ],
        )
    )  # fmt: skip
