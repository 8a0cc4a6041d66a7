"""The patch-run state machine, its log group and its role (derived from the tasks in the workflow graph)."""

from __future__ import annotations

from dataclasses import dataclass

from awacs import logs, xray
from troposphere import GetAtt, Ref, Sub, Template
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup
from troposphere.stepfunctions import (
    CloudWatchLogsLogGroup,
    LogDestination,
    LoggingConfiguration,
    StateMachine,
    TracingConfiguration,
)

from generator import naming
from generator.asl.graph import StateMachineDefinition
from generator.encryption import EncryptionRefs
from generator.iam import Grant, arn, grants_document, service_trust
from generator.parameters import HubParameters
from generator.retention import add_log_group

STATE_MACHINE_NAME_SUFFIX = "-patch-run"


def state_machine_name() -> Sub:
    """The fixed name (the role and the Distributed Map's grants need the ARN before the machine exists)."""
    return naming.prefixed(STATE_MACHINE_NAME_SUFFIX)


# Step Functions delivers logs through CloudWatch Logs' vended-log APIs, which have no resource-level
# permissions; AWS documents "*" for them.
LOG_DELIVERY = Grant(
    sid="DeliverExecutionLogs",
    actions=(
        logs.CreateLogDelivery,
        logs.DeleteLogDelivery,
        logs.DescribeLogGroups,
        logs.DescribeResourcePolicies,
        logs.GetLogDelivery,
        logs.ListLogDeliveries,
        logs.PutResourcePolicy,
        logs.UpdateLogDelivery,
    ),
    resources=("*",),
)
TRACING = Grant(
    sid="WriteTraces",
    actions=(xray.GetSamplingRules, xray.GetSamplingTargets, xray.PutTelemetryRecords, xray.PutTraceSegments),
    resources=("*",),
)


@dataclass(frozen=True)
class StateMachineRefs:
    state_machine: StateMachine
    role: Role
    log_group: LogGroup
    definition: StateMachineDefinition


def add_state_machine(
    template: Template,
    parameters: HubParameters,
    encryption: EncryptionRefs,
    definition: StateMachineDefinition,
) -> StateMachineRefs:
    """A Standard state machine: logs without execution data (task tokens live there), X-Ray tracing on."""
    name = state_machine_name()
    log_group = add_log_group(
        template,
        "PatchRunLogGroup",
        # The /aws/vendedlogs/ prefix keeps the log group's resource policy small (AWS guidance).
        naming.prefixed(STATE_MACHINE_NAME_SUFFIX, before="/aws/vendedlogs/states/"),
        retention_days=Ref(parameters.log_retention_days),
        key_arn=encryption.key_arn,
    )
    role = template.add_resource(
        Role(
            "PatchRunStateMachineRole",
            Description="Assumed by the patch-run state machine; permissions derived from its tasks.",
            AssumeRolePolicyDocument=service_trust(
                "states.amazonaws.com",
                source_arn=arn("states", f"stateMachine:${{NamePrefix}}{STATE_MACHINE_NAME_SUFFIX}"),
            ),
            Policies=[
                Policy(
                    PolicyName="patch-run",
                    PolicyDocument=grants_document((*definition.grants(), LOG_DELIVERY, TRACING)),
                )
            ],
        )
    )
    state_machine = template.add_resource(
        StateMachine(
            "PatchRunStateMachine",
            StateMachineName=name,
            StateMachineType="STANDARD",
            RoleArn=GetAtt(role, "Arn"),
            Definition=definition.to_asl(),
            DefinitionSubstitutions=definition.substitutions(),
            LoggingConfiguration=LoggingConfiguration(
                Level=Ref(parameters.state_machine_log_level),
                IncludeExecutionData=False,
                Destinations=[
                    LogDestination(CloudWatchLogsLogGroup=CloudWatchLogsLogGroup(LogGroupArn=GetAtt(log_group, "Arn")))
                ],
            ),
            TracingConfiguration=TracingConfiguration(Enabled=True),
        )
    )
    return StateMachineRefs(state_machine, role, log_group, definition)
