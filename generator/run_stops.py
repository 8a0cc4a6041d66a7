"""When a run stops early (stopped, timed out, failed): EventBridge calls CancelRun, which cancels its commands.

Stopping a Step Functions execution does not stop the SSM commands it sent. A rule on the state machine's
"Execution Status Change" events (ABORTED, TIMED_OUT, FAILED) invokes CancelRun; deliveries that fail go to a
dead-letter queue (from EventBridge and from Lambda's own asynchronous retries), where an operator sees them.
``add_stop_queue`` comes before the functions (CancelRun's dead-letter target), ``add_stop_rule`` after the
state machine (the rule names it).
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import Action, Allow, ArnEquals, Bool, Condition, Deny, Principal, Statement
from troposphere import GetAtt, Ref, Template
from troposphere.awslambda import Function, Permission
from troposphere.events import DeadLetterConfig, RetryPolicy, Rule, Target
from troposphere.sqs import Queue, QueuePolicy

from generator import naming, suppressions
from generator.iam import Grant, policy_document
from generator.retention import retained
from generator.state_machine import StateMachineRefs
from handlers.contract.conventions import STOPPED_EXECUTION_STATUSES

DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
# EventBridge keeps trying for an hour: long enough to ride out a throttled spoke, short enough to matter.
DELIVERY_ATTEMPTS = 8
DELIVERY_MAX_AGE_SECONDS = 3600


@dataclass(frozen=True)
class StopQueueRefs:
    queue: Queue

    @property
    def arn(self) -> GetAtt:
        return GetAtt(self.queue, "Arn")

    def send_grant(self) -> Grant:
        """What an asynchronously invoked function's role needs for Lambda to dead-letter a failed event."""
        return Grant("DeadLetterFailedEvents", (Action("sqs", "SendMessage"),), (self.arn,))


def add_stop_queue(template: Template) -> StopQueueRefs:
    """The dead-letter queue for run-stop events CancelRun could not handle."""
    # Retained: events in it are the evidence of commands that may still be running.
    queue = template.add_resource(
        retained(
            Queue(
                "RunStopDeadLetterQueue",
                Metadata={
                    "checkov": suppressions.checkov(
                        (
                            "CKV_AWS_27",
                            "Encrypted with SQS-managed keys (SqsManagedSseEnabled), which older checkov releases do "
                            "not recognise; it holds execution status events, no instance data.",
                        )
                    )
                },
                QueueName=naming.prefixed("-run-stop-dead-letters"),
                # SQS-managed encryption: EventBridge can deliver to it without a grant on a customer key.
                SqsManagedSseEnabled=True,
                MessageRetentionPeriod=DEAD_LETTER_RETENTION_SECONDS,
            )
        )
    )
    return StopQueueRefs(queue)


def add_stop_rule(
    template: Template, state_machine: StateMachineRefs, queue: StopQueueRefs, *, cancel_run: Function
) -> Rule:
    """The rule, its invoke permission, and the queue policy that lets only this rule dead-letter into it."""
    rule = template.add_resource(
        Rule(
            "RunStoppedRule",
            Description="A patch run stopped early: cancel the commands it left running.",
            State="ENABLED",
            EventPattern={
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                # The run's own executions only: Distributed Map children carry their map run in the ARN.
                "detail": {
                    "status": list(STOPPED_EXECUTION_STATUSES),
                    "stateMachineArn": [Ref(state_machine.state_machine)],
                },
            },
            Targets=[
                Target(
                    Id="CancelRun",
                    Arn=GetAtt(cancel_run, "Arn"),
                    RetryPolicy=RetryPolicy(
                        MaximumRetryAttempts=DELIVERY_ATTEMPTS, MaximumEventAgeInSeconds=DELIVERY_MAX_AGE_SECONDS
                    ),
                    DeadLetterConfig=DeadLetterConfig(Arn=queue.arn),
                )
            ],
        )
    )
    template.add_resource(
        Permission(
            "CancelRunInvokePermission",
            Action="lambda:InvokeFunction",
            FunctionName=GetAtt(cancel_run, "Arn"),
            Principal="events.amazonaws.com",
            SourceArn=GetAtt(rule, "Arn"),
        )
    )
    template.add_resource(
        QueuePolicy(
            "RunStopDeadLetterQueuePolicy",
            Queues=[Ref(queue.queue)],
            PolicyDocument=policy_document(
                [
                    Statement(
                        Sid="RuleDeadLetters",
                        Effect=Allow,
                        Principal=Principal("Service", "events.amazonaws.com"),
                        Action=[Action("sqs", "SendMessage")],
                        Resource=[queue.arn],
                        Condition=Condition(ArnEquals("aws:SourceArn", GetAtt(rule, "Arn"))),
                    ),
                    Statement(
                        Sid="DenyWithoutTls",
                        Effect=Deny,
                        Principal=Principal("*"),
                        Action=[Action("sqs", "*")],
                        Resource=[queue.arn],
                        Condition=Condition(Bool("aws:SecureTransport", "false")),
                    ),
                ]
            ),
        )
    )
    return rule
