"""The run table: one DynamoDB table holding runs, waves, targets, the command ledger and approvals."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import GetAtt, Ref, Template
from troposphere.dynamodb import (
    AttributeDefinition,
    KeySchema,
    PointInTimeRecoverySpecification,
    SSESpecification,
    Table,
    TimeToLiveSpecification,
)

from generator import naming
from generator.asl.tasks import TableTarget
from generator.encryption import EncryptionRefs
from generator.retention import retained

# Items expire through this attribute (epoch seconds). TTL deletes lazily, so code also checks expiry itself.
TTL_ATTRIBUTE = "expiresAt"


@dataclass(frozen=True)
class StorageRefs:
    run_table: Table

    def run_table_target(self) -> TableTarget:
        """The run table as state machine tasks address it (``${RunTableName}``)."""
        return TableTarget("RunTable", Ref(self.run_table), GetAtt(self.run_table, "Arn"))


def add_storage(template: Template, encryption: EncryptionRefs) -> StorageRefs:
    """The run table: on-demand, PITR, deletion protection, hub-key encryption, TTL."""
    table = template.add_resource(
        retained(
            Table(
                "PatchRunsTable",
                TableName=naming.prefixed("-runs"),
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    AttributeDefinition(AttributeName="pk", AttributeType="S"),
                    AttributeDefinition(AttributeName="sk", AttributeType="S"),
                ],
                KeySchema=[
                    KeySchema(AttributeName="pk", KeyType="HASH"),
                    KeySchema(AttributeName="sk", KeyType="RANGE"),
                ],
                PointInTimeRecoverySpecification=PointInTimeRecoverySpecification(PointInTimeRecoveryEnabled=True),
                DeletionProtectionEnabled=True,
                SSESpecification=SSESpecification(SSEEnabled=True, SSEType="KMS", KMSMasterKeyId=encryption.key_arn),
                TimeToLiveSpecification=TimeToLiveSpecification(AttributeName=TTL_ATTRIBUTE, Enabled=True),
            )
        )
    )
    return StorageRefs(table)
