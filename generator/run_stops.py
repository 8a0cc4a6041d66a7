"""When a run stops early (stopped, timed out, failed): EventBridge calls CancelRun, which cancels its commands.

Stopping a Step Functions execution does not stop the SSM commands it sent. A rule on the state machine's
"Execution Status Change" events (ABORTED, TIMED_OUT, FAILED) invokes CancelRun; deliveries that fail go to a
dead-letter queue (from EventBridge and from Lambda's own asynchronous retries), where an operator sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import sqs, states
from awacs.aws import Allow, ArnEquals, Condition, Principal, Statement
from troposphere import GetAtt, Ref, Template
from troposphere.awslambda import Permission
from troposphere.events import DeadLetterConfig, RetryPolicy, Rule, Target
from troposphere.sqs import Queue, QueuePolicy

from generator import naming, suppressions
from generator.iam import Grant, arn, deny_insecure_transport, policy_document
from generator.lambdas import FunctionSpec, LambdaRefs, Lambdas
from generator.messaging import MessagingRefs
from generator.retention import retained
from generator.spoke_access import SpokeAccessRefs
from generator.state_machine import StateMachineRefs, state_machine_name
from generator.storage import StorageRefs
from handlers.contract import environment
from handlers.contract.conventions import STOPPED_EXECUTION_STATUSES

DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
# EventBridge keeps trying for an hour: long enough to ride out a throttled spoke, short enough to matter.
DELIVERY_ATTEMPTS = 8
DELIVERY_MAX_AGE_SECONDS = 3600
CANCEL_RUN = FunctionSpec(
    "CancelRun", "cancel_run", "Cancels the commands of a run whose execution stopped early; closes its record.",
    timeout=300, memory=256, concurrency="control", env=environment.CancelRunEnv,
)  # fmt: skip


@dataclass(frozen=True)
class RunStopRefs:
    queue: Queue
    cancel_run: LambdaRefs
    rule: Rule

    @property
    def queue_arn(self) -> GetAtt:
        return GetAtt(self.queue, "Arn")


def add_run_stops(
    template: Template,
    lambdas: Lambdas,
    *,
    storage: StorageRefs,
    messaging: MessagingRefs,
    spoke_access: SpokeAccessRefs,
    state_machine: StateMachineRefs,
) -> RunStopRefs:
    """The dead-letter queue, CancelRun, the rule that invokes it, and who may write to the queue."""
    # Retained: events in it are the evidence of commands that may still be running.
    queue = template.add_resource(
        retained(
            Queue(
                "RunStopDeadLetterQueue",
                Metadata={
                    "checkov": suppressions.checkov(
                        (
                            "CKV_AWS_27",
                            "Encrypted with SQS-managed keys (SqsManagedSseEnabled); checkov's CloudFormation check "
                            "accepts only KmsMasterKeyId. It holds execution status events, no instance data.",
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
    queue_arn = GetAtt(queue, "Arn")
    cancel_run = lambdas.add(
        CANCEL_RUN,
        grants=(
            *spoke_access.fleet_grants(),
            *storage.run_table.grant("GetItem", "Query", "UpdateItem"),
            *messaging.grant_notify(),
            # An event is only a claim: CancelRun asks for the execution's real status first.
            Grant(
                "DescribeRunExecutions",
                (states.DescribeExecution,),
                (arn("states", "execution:${Name}:*", Name=state_machine_name()),),
            ),
            # Lambda dead-letters a failed asynchronous event with the function's own role.
            Grant("DeadLetterFailedEvents", (sqs.SendMessage,), (queue_arn,)),
        ),
        # In a spoke only to cancel the run's commands still running there.
        role_name=spoke_access.fleet_role_name("cancel"),
        dead_letter_arn=queue_arn,
        settings={environment.PATCH_RUN_STATE_MACHINE_ARN: Ref(state_machine.state_machine)},
    )
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
                    Arn=cancel_run.arn,
                    RetryPolicy=RetryPolicy(
                        MaximumRetryAttempts=DELIVERY_ATTEMPTS, MaximumEventAgeInSeconds=DELIVERY_MAX_AGE_SECONDS
                    ),
                    DeadLetterConfig=DeadLetterConfig(Arn=queue_arn),
                )
            ],
        )
    )
    template.add_resource(
        Permission(
            "CancelRunInvokePermission",
            Action="lambda:InvokeFunction",
            FunctionName=cancel_run.arn,
            Principal="events.amazonaws.com",
            SourceArn=GetAtt(rule, "Arn"),
        )
    )
    template.add_resource(
        QueuePolicy(
            "RunStopDeadLetterQueuePolicy",
            Queues=[Ref(queue)],
            PolicyDocument=policy_document(
                [
                    Statement(
                        Sid="RuleDeadLetters",
                        Effect=Allow,
                        Principal=Principal("Service", "events.amazonaws.com"),
                        Action=[sqs.SendMessage],
                        Resource=[queue_arn],
                        Condition=Condition(ArnEquals("aws:SourceArn", GetAtt(rule, "Arn"))),
                    ),
                    deny_insecure_transport("DenyWithoutTls", [sqs.Action("*")], [queue_arn]),
                ]
            ),
        )
    )
    return RunStopRefs(queue, cancel_run, rule)
