"""The AWS metrics the hub's alarms and dashboard may name: namespace, metric names and the dimension set each
is published with, as AWS documents them (Step Functions execution metrics; Lambda function metrics; API
Gateway REST API metrics by API and stage; SQS queue metrics)."""

from __future__ import annotations

AWS_METRICS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "AWS/States": (
        frozenset({"StateMachineArn"}),
        frozenset({
            "ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut",
            "ExecutionsAborted", "ExecutionThrottled", "ExecutionTime", "ExecutionsRedriven",
        }),
    ),
    "AWS/Lambda": (
        frozenset({"FunctionName"}),
        frozenset({"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions", "DeadLetterErrors"}),
    ),
    "AWS/ApiGateway": (
        frozenset({"ApiName", "Stage"}),
        frozenset({"4XXError", "5XXError", "Count", "Latency", "IntegrationLatency"}),
    ),
    "AWS/SQS": (
        frozenset({"QueueName"}),
        frozenset({
            "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage", "NumberOfMessagesSent",
            "NumberOfMessagesReceived",
        }),
    ),
}  # fmt: skip
