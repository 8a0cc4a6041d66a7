"""The CloudWatch metrics the hub's alarms and dashboard read: AWS's own and the handlers' (EMF and log filters).

One ``Metric`` names a namespace, a metric name and its dimensions, whose values are CloudFormation values (the
state machine's ARN, a function's name). Alarms render it as ``Namespace``/``MetricName``/``Dimensions``; the
dashboard as a ``metrics`` array under ``Fn::Sub``. Tests hold every metric here to the metrics AWS documents
for the namespace, or, for the orchestrator's own namespace, to what the handlers really emit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from troposphere import GetAtt, Ref
from troposphere.cloudwatch import MetricDimension

from handlers.contract.conventions import METRICS_NAMESPACE, SERVICE

STATES, LAMBDA, API_GATEWAY, SQS = "AWS/States", "AWS/Lambda", "AWS/ApiGateway", "AWS/SQS"
# The metric log filters publish (no dimensions: a metric filter adds none unless told to).
LOG_METRICS_NAMESPACE = f"{METRICS_NAMESPACE}/Logs"


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, Any], ...] = ()

    def alarm_dimensions(self) -> list[MetricDimension]:
        return [MetricDimension(Name=name, Value=value) for name, value in self.dimensions]


def state_machine(name: str, state_machine_arn: Ref) -> Metric:
    """An execution metric of the patch-run state machine (ExecutionsFailed, ExecutionTime, ...)."""
    return Metric(STATES, name, (("StateMachineArn", state_machine_arn),))


def function(name: str, function_name: Any) -> Metric:
    """A Lambda function metric (Errors, Throttles, Duration, Invocations)."""
    return Metric(LAMBDA, name, (("FunctionName", function_name),))


def rest_api(name: str, api_name: Any, stage: str) -> Metric:
    """A REST API stage metric (4XXError, 5XXError, Count, Latency)."""
    return Metric(API_GATEWAY, name, (("ApiName", api_name), ("Stage", stage)))


def queue(name: str, queue: Any) -> Metric:
    """An SQS queue metric (ApproximateNumberOfMessagesVisible, ...)."""
    return Metric(SQS, name, (("QueueName", GetAtt(queue, "QueueName")),))


def orchestrator(name: str) -> Metric:
    """A metric the handlers emit as EMF (Powertools adds the ``service`` dimension to every one)."""
    return Metric(METRICS_NAMESPACE, name, (("service", SERVICE),))


def from_logs(name: str) -> Metric:
    """A metric a log metric filter publishes."""
    return Metric(LOG_METRICS_NAMESPACE, name)
