"""The hub's customer-managed KMS key: run table, artifact bucket, log groups, topic, secret, Lambda environment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from awacs import kms
from awacs.aws import Action, Allow, ArnLike, Condition, Principal, Statement, StringEquals
from troposphere import GetAtt, Ref, Sub, Template
from troposphere.kms import Alias, Key

from generator import naming
from generator.iam import Grant, arn, policy_document_if
from generator.key_administration import administered_by
from generator.parameters import SHARES_INSTANCE_OUTPUT, HubParameters
from generator.retention import retained


@dataclass(frozen=True)
class EncryptionRefs:
    key: Key

    @property
    def key_arn(self) -> GetAtt:
        return GetAtt(self.key, "Arn")

    def grant_through(self, service: str, sid: str, actions: Sequence[Action]) -> Grant:
        """Use of the hub key for ``actions``, only on behalf of ``service`` in this region (``kms:ViaService``)."""
        return Grant(
            sid,
            tuple(actions),
            (self.key_arn,),
            Condition(StringEquals("kms:ViaService", Sub(f"{service}.${{AWS::Region}}.amazonaws.com"))),
        )


def add_encryption(template: Template, parameters: HubParameters) -> EncryptionRefs:
    """The hub key (rotated yearly, retained on delete) and its alias."""
    always = [
        *administered_by(parameters.key_administrator_arns()),
        Statement(
            Sid="CloudWatchLogsForThisAccountsLogGroups",
            Effect=Allow,
            Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
            Action=[
                kms.Decrypt,
                kms.DescribeKey,
                kms.Encrypt,
                kms.GenerateDataKey,
                kms.GenerateDataKeyWithoutPlaintext,
                kms.ReEncryptFrom,
                kms.ReEncryptTo,
            ],
            Resource=["*"],
            Condition=Condition(ArnLike("kms:EncryptionContext:aws:logs:arn", arn("logs", "log-group:*"))),
        ),
        Statement(
            # CloudWatch cannot publish an alarm to a topic under a customer-managed key without it; only this
            # stack's alarms (named with the prefix), in this account (see generator/monitoring.py).
            Sid="CloudWatchAlarmsPublishToTheAlarmTopics",
            Effect=Allow,
            Principal=Principal("Service", "cloudwatch.amazonaws.com"),
            Action=[kms.Decrypt, kms.GenerateDataKey],
            Resource=["*"],
            Condition=Condition(
                [
                    StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
                    ArnLike("aws:SourceArn", arn("cloudwatch", "alarm:${NamePrefix}-*")),
                ]
            ),
        ),
    ]
    organisation_output = [
        Statement(
            # Instances in the organisation write Run Command output; S3 encrypts it with this key for them, for
            # the artifact bucket only (with an S3 Bucket Key the encryption context is the bucket, so the bucket
            # policy scopes paths).
            Sid="OrganisationInstancesEncryptOutputThroughS3",
            Effect=Allow,
            Principal=Principal("AWS", "*"),
            Action=[kms.Decrypt, kms.GenerateDataKey],
            Resource=["*"],
            # One StringEquals block holding both keys: two blocks with one operator would overwrite each other.
            Condition=Condition(
                StringEquals(
                    {
                        "aws:PrincipalOrgID": Ref(parameters.organization_id),
                        "kms:ViaService": Sub("s3.${AWS::Region}.amazonaws.com"),
                        "kms:EncryptionContext:aws:s3:arn": naming.artifact_bucket_arn(),
                    }
                )
            ),
        )
    ]
    key = template.add_resource(
        retained(
            Key(
                "HubKey",
                Description="Patch orchestrator hub: run table, artifacts, logs, notifications, secret.",
                EnableKeyRotation=True,
                PendingWindowInDays=30,
                KeyPolicy=policy_document_if(SHARES_INSTANCE_OUTPUT, always, organisation_output),
            )
        )
    )
    template.add_resource(
        Alias("HubKeyAlias", AliasName=naming.prefixed("-hub", before="alias/"), TargetKeyId=key.ref())
    )
    return EncryptionRefs(key)
