"""Hub outputs: what operators and spoke deployments need to know about the hub."""

from __future__ import annotations

from troposphere import GetAtt, Output, Ref, Template

from generator.approval_api import ApprovalApiRefs
from generator.messaging import MessagingRefs
from generator.spoke_access import SpokeAccessRefs
from generator.state_machine import StateMachineRefs
from generator.storage import StorageRefs


def add_hub_outputs(
    template: Template,
    *,
    storage: StorageRefs,
    messaging: MessagingRefs,
    spoke_access: SpokeAccessRefs,
    state_machine: StateMachineRefs,
    approval_api: ApprovalApiRefs,
) -> None:
    template.add_output(
        [
            Output(
                "StateMachineArn",
                Description="Start a run: aws stepfunctions start-execution --name <runId> --input file://run.json",
                Value=Ref(state_machine.state_machine),
            ),
            Output(
                "RunTableName",
                Description="Run, wave, target and instance records.",
                Value=Ref(storage.run_table.table),
            ),
            Output(
                "ArtifactBucketName",
                Description="Snapshots and reports under runs/<runId>/; the spokes' HubArtifactBucketName.",
                Value=Ref(storage.artifacts.bucket),
            ),
            Output(
                "HubKeyArn", Description="Spoke HubKeyArn parameter.", Value=GetAtt(spoke_access.encryption.key, "Arn")
            ),
            Output(
                "ExternalIdSecretArn",
                Description="Read it and pass the value to the spoke StackSet as ExternalId.",
                Value=Ref(spoke_access.external_id),
            ),
            Output("RunNotificationsTopicArn", Description="Run outcomes.", Value=messaging.notifications.arn),
            Output(
                "ApprovalRequestsTopicArn",
                Description=(
                    'Subscribe each approver by email with the filter policy {"approver": ["<address>"]} '
                    "(docs/runbook.md, Approvals)."
                ),
                Value=messaging.approvals.arn,
            ),
            Output("ApprovalApiUrl", Description="Base URL of the approval links.", Value=approval_api.url),
        ]
    )
