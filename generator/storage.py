"""Where runs are kept: the run table (DynamoDB) and the artifact bucket (S3: snapshots, reports, output)."""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import Action, Allow, Bool, Condition, Deny, Principal, Statement, StringEquals
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
from generator.iam import policy_document_if
from generator.parameters import SHARES_INSTANCE_OUTPUT, HubParameters
from generator.retention import retained
from handlers.contract.table import TTL_ATTRIBUTE, run_pk

NONCURRENT_VERSION_DAYS = 30
ABORT_UPLOAD_DAYS = 7


@dataclass(frozen=True)
class StorageRefs:
    run_table: Table
    artifact_bucket: Bucket
    encryption: EncryptionRefs

    def run_table_target(self) -> TableTarget:
        """The run table as state machine tasks address it (``${RunTableName}``)."""
        return TableTarget(
            "RunTable",
            Ref(self.run_table),
            GetAtt(self.run_table, "Arn"),
            self.encryption.key_arn,
            # The workflow writes run records only; approval items (task tokens) are the approval functions'.
            partitions=(run_pk("*"),),
        )

    @property
    def table_arn(self) -> GetAtt:
        return GetAtt(self.run_table, "Arn")

    def objects(self, pattern: str) -> Sub:
        """ARN of the artifact objects matching ``pattern`` (e.g. ``runs/*/report/*``)."""
        return Sub(f"${{Bucket}}/{pattern}", Bucket=GetAtt(self.artifact_bucket, "Arn"))


def add_storage(template: Template, parameters: HubParameters, encryption: EncryptionRefs) -> StorageRefs:
    """Run table and artifact bucket, both encrypted with the hub key and retained on stack deletion."""
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
    bucket = template.add_resource(
        retained(
            Bucket(
                "ArtifactBucket",
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
    refs = StorageRefs(table, bucket, encryption)
    _add_bucket_policy(template, parameters, refs)
    return refs


def _add_bucket_policy(template: Template, parameters: HubParameters, storage: StorageRefs) -> None:
    bucket_arn = GetAtt(storage.artifact_bucket, "Arn")
    always = [
        Statement(
            Sid="DenyRequestsWithoutTls",
            Effect=Deny,
            Principal=Principal("*"),
            Action=[Action("s3", "*")],
            Resource=[bucket_arn, storage.objects("*")],
            Condition=Condition(Bool("aws:SecureTransport", "false")),
        )
    ]
    organisation_output = [
        Statement(
            # Instances write Run Command output only under their own account's prefix, and only PutObject.
            Sid="OrganisationInstancesWriteOwnAccountOutput",
            Effect=Allow,
            Principal=Principal("AWS", "*"),
            Action=[Action("s3", "PutObject")],
            Resource=[storage.objects("runs/*/ssm/account-${!aws:PrincipalAccount}/*")],
            Condition=Condition(StringEquals("aws:PrincipalOrgID", Ref(parameters.organization_id))),
        ),
        Statement(
            Sid="OrganisationInstancesCheckEncryption",
            Effect=Allow,
            Principal=Principal("AWS", "*"),
            Action=[Action("s3", "GetEncryptionConfiguration")],
            Resource=[bucket_arn],
            Condition=Condition(StringEquals("aws:PrincipalOrgID", Ref(parameters.organization_id))),
        ),
    ]
    template.add_resource(
        BucketPolicy(
            "ArtifactBucketPolicy",
            Bucket=Ref(storage.artifact_bucket),
            PolicyDocument=policy_document_if(SHARES_INSTANCE_OUTPUT, always, organisation_output),
        )
    )
