"""The hub's customer-managed KMS key: encrypts the run table and the log groups (and later bucket and topics)."""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import Action, Allow, ArnLike, Condition, Principal, Statement
from troposphere import GetAtt, Sub, Template
from troposphere.kms import Alias, Key

from generator import naming
from generator.iam import arn, policy_document
from generator.retention import retained


@dataclass(frozen=True)
class EncryptionRefs:
    key: Key

    @property
    def key_arn(self) -> GetAtt:
        return GetAtt(self.key, "Arn")


def add_encryption(template: Template) -> EncryptionRefs:
    """The hub key (rotated yearly, retained on delete) and its alias."""
    key_policy = policy_document(
        [
            Statement(
                # Without this statement IAM policies in the account could not grant use of the key.
                Sid="AccountAdministersKeyThroughIam",
                Effect=Allow,
                Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
                Action=[Action("kms", "*")],
                Resource=["*"],
            ),
            Statement(
                Sid="CloudWatchLogsForThisAccountsLogGroups",
                Effect=Allow,
                Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
                Action=[
                    Action("kms", "Decrypt"),
                    Action("kms", "DescribeKey"),
                    Action("kms", "Encrypt"),
                    Action("kms", "GenerateDataKey"),
                    Action("kms", "GenerateDataKeyWithoutPlaintext"),
                    Action("kms", "ReEncryptFrom"),
                    Action("kms", "ReEncryptTo"),
                ],
                Resource=["*"],
                Condition=Condition(ArnLike("kms:EncryptionContext:aws:logs:arn", arn("logs", "log-group:*"))),
            ),
        ]
    )
    key = template.add_resource(
        retained(
            Key(
                "HubKey",
                Description="Patch orchestrator hub: run table, log groups, artifacts and notifications.",
                EnableKeyRotation=True,
                PendingWindowInDays=30,
                KeyPolicy=key_policy,
            )
        )
    )
    template.add_resource(
        Alias("HubKeyAlias", AliasName=naming.prefixed("-hub", before="alias/"), TargetKeyId=key.ref())
    )
    return EncryptionRefs(key)
