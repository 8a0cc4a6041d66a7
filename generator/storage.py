"""Where runs are kept: the run table (DynamoDB) and the artifact bucket (S3: snapshots, reports, output).

Each store offers the grants that reach it (``RunTableRefs.grant``, ``ArtifactBucketRefs.grant_write``), so a
function's role says what it touches where the store is defined, and the settings that name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from awacs import dynamodb, kms, s3
from awacs.aws import (
    Allow,
    Condition,
    Deny,
    ForAllValuesStringEquals,
    ForAllValuesStringLike,
    Null,
    Principal,
    Statement,
    StringEquals,
    StringEqualsIfExists,
    StringNotEquals,
)
from troposphere import GetAtt, Ref, Sub, Template
from troposphere.dynamodb import (
    AttributeDefinition,
    KeySchema,
    PointInTimeRecoverySpecification,
    SSESpecification,
    Table,
    TimeToLiveSpecification,
)
from troposphere.s3 import (
    AbortIncompleteMultipartUpload,
    Bucket,
    BucketEncryption,
    BucketPolicy,
    LifecycleConfiguration,
    LifecycleRule,
    NoncurrentVersionExpiration,
    OwnershipControls,
    OwnershipControlsRule,
    PublicAccessBlockConfiguration,
    ServerSideEncryptionByDefault,
    ServerSideEncryptionRule,
    VersioningConfiguration,
)

from generator import naming, suppressions
from generator.asl.tasks import TableTarget
from generator.encryption import EncryptionRefs
from generator.iam import Grant, deny_insecure_transport, policy_document_if, table_key_grant
from generator.parameters import SHARES_INSTANCE_OUTPUT, HubParameters
from generator.retention import retained
from handlers.contract import environment
from handlers.contract.environment import Variable
from handlers.contract.table import (
    APPROVAL_DECISION_ATTRIBUTES,
    PARTITION_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
    approval_pk,
    run_pk,
)

NONCURRENT_VERSION_DAYS = 30
ABORT_UPLOAD_DAYS = 7
# Partition-key patterns for dynamodb:LeadingKeys: run records, and approval items (which hold task tokens).
RUN_ITEMS = run_pk("*")
APPROVAL_ITEMS = approval_pk("*")


@dataclass(frozen=True)
class RunTableRefs:
    table: Table
    encryption: EncryptionRefs

    @property
    def arn(self) -> GetAtt:
        return GetAtt(self.table, "Arn")

    def grant(
        self,
        *actions: str,
        partitions: tuple[str, ...] = (RUN_ITEMS,),
        attributes: tuple[str, ...] = (),
        sid: str = "UseRunTable",
    ) -> tuple[Grant, ...]:
        """``actions`` on the items of ``partitions`` only (``dynamodb:LeadingKeys``: only the approval functions
        reach approval items, which hold task tokens); ``attributes``: the only attributes it may read."""
        conditions: list[Any] = [ForAllValuesStringLike("dynamodb:LeadingKeys", list(partitions))]
        if attributes:
            conditions += [
                ForAllValuesStringEquals("dynamodb:Attributes", list(attributes)),
                StringEqualsIfExists("dynamodb:Select", "SPECIFIC_ATTRIBUTES"),
            ]
        return (
            Grant(sid, tuple(dynamodb.Action(a) for a in actions), (self.arn,), Condition(conditions)),
            table_key_grant(self.encryption.key_arn),
        )

    def grant_read_decisions(self) -> tuple[Grant, ...]:
        """What the workflow and the fleet functions' guard read of an approval: its decision, never its token."""
        return self.grant(
            "GetItem",
            partitions=(APPROVAL_ITEMS,),
            attributes=APPROVAL_DECISION_ATTRIBUTES,
            sid="ReadApprovalDecisions",
        )

    def target(self) -> TableTarget:
        """The run table as state machine tasks address it (``${RunTableName}``)."""
        return TableTarget(
            "RunTable",
            Ref(self.table),
            self.arn,
            self.encryption.key_arn,
            # The workflow writes run records only; approval items (task tokens) are the approval functions'.
            partitions=(RUN_ITEMS,),
        )


@dataclass(frozen=True)
class ArtifactBucketRefs:
    bucket: Bucket
    encryption: EncryptionRefs

    @property
    def arn(self) -> GetAtt:
        return GetAtt(self.bucket, "Arn")

    def objects(self, pattern: str) -> Sub:
        """ARN of the artifact objects matching ``pattern`` (e.g. ``runs/*/report/*``)."""
        return Sub(f"${{Bucket}}/{pattern}", Bucket=self.arn)

    def grant_write(self, pattern: str) -> tuple[Grant, ...]:
        """``PutObject`` under ``pattern``, encrypted with the hub key through S3."""
        return (
            Grant("WriteArtifacts", (s3.PutObject,), (self.objects(pattern),)),
            self.encryption.grant_through("s3", "EncryptArtifacts", (kms.GenerateDataKey,)),
        )


@dataclass(frozen=True)
class StorageRefs:
    run_table: RunTableRefs
    artifacts: ArtifactBucketRefs

    def settings(self) -> Mapping[Variable, Any]:
        return {
            environment.RUN_TABLE_NAME: Ref(self.run_table.table),
            environment.ARTIFACT_BUCKET: Ref(self.artifacts.bucket),
        }


def add_storage(template: Template, parameters: HubParameters, encryption: EncryptionRefs) -> StorageRefs:
    """Run table and artifact bucket, both encrypted with the hub key and retained on stack deletion."""
    table = template.add_resource(
        retained(
            Table(
                "PatchRunsTable",
                TableName=naming.prefixed("-runs"),
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    AttributeDefinition(AttributeName=PARTITION_KEY, AttributeType="S"),
                    AttributeDefinition(AttributeName=SORT_KEY, AttributeType="S"),
                ],
                KeySchema=[
                    KeySchema(AttributeName=PARTITION_KEY, KeyType="HASH"),
                    KeySchema(AttributeName=SORT_KEY, KeyType="RANGE"),
                ],
                PointInTimeRecoverySpecification=PointInTimeRecoverySpecification(PointInTimeRecoveryEnabled=True),
                DeletionProtectionEnabled=True,
                SSESpecification=SSESpecification(SSEEnabled=True, SSEType="KMS", KMSMasterKeyId=encryption.key_arn),
                TimeToLiveSpecification=TimeToLiveSpecification(AttributeName=TTL_ATTRIBUTE, Enabled=True),
            )
        )
    )
    bucket = template.add_resource(
        retained(
            Bucket(
                "ArtifactBucket",
                # Named, so the hub key's policy can name it (the bucket itself depends on the key).
                BucketName=naming.artifact_bucket_name(),
                Metadata={
                    "checkov": suppressions.checkov(
                        (
                            "CKV_AWS_18",
                            "Audit object access with CloudTrail S3 data events (an organisation trail); a "
                            "server-access-log bucket per hub is left to the landing zone.",
                        )
                    )
                },
                BucketEncryption=BucketEncryption(
                    ServerSideEncryptionConfiguration=[
                        ServerSideEncryptionRule(
                            BucketKeyEnabled=True,
                            ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(
                                SSEAlgorithm="aws:kms", KMSMasterKeyID=encryption.key_arn
                            ),
                        )
                    ]
                ),
                PublicAccessBlockConfiguration=PublicAccessBlockConfiguration(
                    BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
                ),
                OwnershipControls=OwnershipControls(
                    Rules=[OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
                ),
                VersioningConfiguration=VersioningConfiguration(Status="Enabled"),
                LifecycleConfiguration=LifecycleConfiguration(
                    Rules=[
                        LifecycleRule(
                            Id="ExpireNoncurrentVersionsAndAbandonedUploads",
                            Status="Enabled",
                            NoncurrentVersionExpiration=NoncurrentVersionExpiration(
                                NoncurrentDays=NONCURRENT_VERSION_DAYS
                            ),
                            AbortIncompleteMultipartUpload=AbortIncompleteMultipartUpload(
                                DaysAfterInitiation=ABORT_UPLOAD_DAYS
                            ),
                        )
                    ]
                ),
            )
        )
    )
    artifacts = ArtifactBucketRefs(bucket, encryption)
    _add_bucket_policy(template, parameters, artifacts)
    return StorageRefs(RunTableRefs(table, encryption), artifacts)


def _add_bucket_policy(template: Template, parameters: HubParameters, artifacts: ArtifactBucketRefs) -> None:
    bucket_arn = artifacts.arn
    key_arn = artifacts.encryption.key_arn
    always = [
        deny_insecure_transport("DenyRequestsWithoutTls", [s3.Action("*")], [bucket_arn, artifacts.objects("*")]),
        # A write that names no encryption gets the bucket's default, the hub key; one that names another key,
        # another algorithm or a key of its own (SSE-C) is refused, so every object stays readable by the hub.
        # Null "false": only a request that names an encryption (absent, a negated operator would match and deny
        # every write that relies on the default). Two statements: keys inside one block must all match, so one
        # block would let a write that names aws:kms with another key through.
        Statement(
            Sid="DenyWritesEncryptedAnotherWay",
            Effect=Deny,
            Principal=Principal("AWS", "*"),
            Action=[s3.PutObject],
            Resource=[artifacts.objects("*")],
            Condition=Condition(
                [
                    Null("s3:x-amz-server-side-encryption", "false"),
                    StringNotEquals("s3:x-amz-server-side-encryption", "aws:kms"),
                ]
            ),
        ),
        Statement(
            Sid="DenyWritesEncryptedWithAnotherKey",
            Effect=Deny,
            Principal=Principal("AWS", "*"),
            Action=[s3.PutObject],
            Resource=[artifacts.objects("*")],
            Condition=Condition(
                [
                    Null("s3:x-amz-server-side-encryption-aws-kms-key-id", "false"),
                    StringNotEquals("s3:x-amz-server-side-encryption-aws-kms-key-id", key_arn),
                ]
            ),
        ),
        Statement(
            Sid="DenyWritesWithCustomerProvidedKeys",
            Effect=Deny,
            Principal=Principal("AWS", "*"),
            Action=[s3.PutObject],
            Resource=[artifacts.objects("*")],
            Condition=Condition(Null("s3:x-amz-server-side-encryption-customer-algorithm", "false")),
        ),
    ]
    organisation_output = [
        Statement(
            # Instances write Run Command output only under their own account's prefix, and only PutObject. The
            # account is the key's first segment after the fixed prefix: no wildcard before it can cross a "/".
            Sid="OrganisationInstancesWriteOwnAccountOutput",
            Effect=Allow,
            Principal=Principal("AWS", "*"),
            Action=[s3.PutObject],
            Resource=[artifacts.objects(naming.instance_output_objects("${!aws:PrincipalAccount}"))],
            Condition=Condition(StringEquals("aws:PrincipalOrgID", Ref(parameters.organization_id))),
        ),
        Statement(
            Sid="OrganisationInstancesCheckEncryption",
            Effect=Allow,
            Principal=Principal("AWS", "*"),
            Action=[s3.GetEncryptionConfiguration],
            Resource=[bucket_arn],
            Condition=Condition(StringEquals("aws:PrincipalOrgID", Ref(parameters.organization_id))),
        ),
    ]
    template.add_resource(
        BucketPolicy(
            "ArtifactBucketPolicy",
            Bucket=Ref(artifacts.bucket),
            PolicyDocument=policy_document_if(SHARES_INSTANCE_OUTPUT, always, organisation_output),
        )
    )
