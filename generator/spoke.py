"""The spoke template: what each target account and region needs so the hub can patch it.

Deployed with a service-managed StackSet to every (account, region) the hub patches. It holds the role the
hub's fleet-facing functions assume, the fixed snapshot document they may run, and an optional policy that
instance profiles attach to write Run Command output into the hub's artifact bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import ec2, kms, s3, ssm, sts
from awacs.aws import Allow, ArnEquals, Condition, Principal, Statement, StringEquals, StringLike
from troposphere import (
    And,
    Equals,
    Export,
    GetAtt,
    Not,
    Or,
    Output,
    Parameter,
    Ref,
    Select,
    Split,
    Sub,
    Template,
)
from troposphere.iam import ManagedPolicy, Policy, Role
from troposphere.ssm import Document

from generator import naming
from generator.iam import account_root, arn, policy_document
from generator.spoke_documents import add_baseline_overrides_parameter, add_patch_document, add_snapshot_document
from generator.spoke_operator import add_spoke_operator
from handlers.contract import conventions

DESCRIPTION = (
    "EC2 Patching Orchestrator spoke: the role the hub assumes (ExternalId) to patch tagged instances in this "
    "account and region, the patch and pre-patch snapshot documents it may run, and an optional instance-profile "
    "policy for Run Command output."
)
SHARE_INSTANCE_OUTPUT = "ShareInstanceOutput"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$"
# A tag value IAM's StringLike can match; at least one character that is not a wildcard.
PATCH_GROUP_PATTERN = r"^(?![*?]+$)[\w .:/=+@*?-]{1,256}$"


@dataclass(frozen=True)
class SpokeParameters:
    name_prefix: Parameter
    hub_account_id: Parameter
    hub_region: Parameter
    external_id: Parameter
    allowed_patch_groups: Parameter
    hub_artifact_bucket: Parameter
    hub_key_arn: Parameter
    baseline_overrides: Parameter


@dataclass(frozen=True)
class SpokeRefs:
    role: Role
    patch_document: Document
    snapshot_document: Document
    instance_output_policy: ManagedPolicy


def build_spoke() -> Template:
    """The complete spoke template."""
    template = Template(Description=DESCRIPTION)
    template.set_version()
    parameters = add_spoke_parameters(template)
    patch = add_patch_document(template, parameters.baseline_overrides)
    snapshot = add_snapshot_document(template)
    role = add_spoke_role(template, parameters)
    policy = add_instance_output_policy(template, parameters)
    add_spoke_outputs(template, SpokeRefs(role, patch, snapshot, policy))
    add_spoke_operator(template)
    return template


def add_spoke_parameters(template: Template) -> SpokeParameters:
    """Parameters, their console grouping, and the rule that the output bucket and key come together."""
    parameters = SpokeParameters(
        name_prefix=naming.add_name_prefix(template),
        hub_account_id=template.add_parameter(
            Parameter(
                "HubAccountId",
                Type="String",
                AllowedPattern=r"^\d{12}$",
                ConstraintDescription="a 12-digit AWS account id",
                Description="Account that runs the hub stack; only its fleet roles may assume the spoke role.",
            )
        ),
        hub_region=template.add_parameter(
            Parameter(
                "HubRegion",
                Type="String",
                AllowedPattern=REGION_PATTERN,
                ConstraintDescription="an AWS Region name such as eu-west-1",
                Description="Region of the hub stack: its fleet roles carry it in their names.",
            )
        ),
        external_id=template.add_parameter(
            Parameter(
                "ExternalId",
                Type="String",
                NoEcho=True,
                MinLength=16,
                MaxLength=1224,
                AllowedPattern=r"^[\w+=,.@:/-]+$",
                ConstraintDescription="16 to 1224 characters from [A-Za-z0-9+=,.@:/_-]",
                Description="Shared with the hub; every AssumeRole call must present it (confused-deputy guard).",
            )
        ),
        allowed_patch_groups=template.add_parameter(
            Parameter(
                "AllowedPatchGroups",
                Type="CommaDelimitedList",
                # Never only wildcards: "*" would open every tagged instance, whatever its patch group.
                AllowedPattern=PATCH_GROUP_PATTERN,
                ConstraintDescription=(
                    "tag values (letters, digits, spaces and _ . : / = + - @), wildcards * and ? allowed but never "
                    "a value of wildcards only"
                ),
                Description=(
                    f"Values of the {conventions.PATCH_TAG_KEY} tag the hub may send commands to (wildcards "
                    "allowed within a value, such as dev-*). Instances without the tag are never reachable."
                ),
            )
        ),
        hub_artifact_bucket=template.add_parameter(
            Parameter(
                "HubArtifactBucketName",
                Type="String",
                Default="",
                AllowedPattern=r"^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                Description="Hub artifact bucket; set with HubKeyArn to create the instance-output policy.",
            )
        ),
        hub_key_arn=template.add_parameter(
            Parameter(
                "HubKeyArn",
                Type="String",
                Default="",
                AllowedPattern=r"^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[a-zA-Z0-9-]+$",
                Description="KMS key of the hub artifact bucket; set with HubArtifactBucketName.",
            )
        ),
        baseline_overrides=add_baseline_overrides_parameter(template),
    )
    bucket_empty = Equals(Ref(parameters.hub_artifact_bucket), "")
    key_empty = Equals(Ref(parameters.hub_key_arn), "")
    template.add_condition(SHARE_INSTANCE_OUTPUT, And(Not(bucket_empty), Not(key_empty)))
    template.add_rule(
        "InstanceOutputNeedsBucketAndKey",
        {
            "Assertions": [
                {
                    "Assert": Or(And(bucket_empty, key_empty), And(Not(bucket_empty), Not(key_empty))),
                    "AssertDescription": "Set both HubArtifactBucketName and HubKeyArn, or neither.",
                }
            ]
        },
    )
    template.set_metadata(
        {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [
                    {
                        "Label": {"default": "Hub trust"},
                        "Parameters": ["HubAccountId", "HubRegion", "ExternalId", "NamePrefix"],
                    },
                    {"Label": {"default": "Scope"}, "Parameters": ["AllowedPatchGroups", "PatchBaselineOverrides"]},
                    {
                        "Label": {"default": "Run Command output (optional)"},
                        "Parameters": ["HubArtifactBucketName", "HubKeyArn"],
                    },
                ],
                "ParameterLabels": {
                    "HubAccountId": {"default": "Hub account id"},
                    "HubRegion": {"default": "Hub Region"},
                    "PatchBaselineOverrides": {"default": "Baseline override files a run may choose (optional)"},
                    "ExternalId": {"default": "External id shared with the hub"},
                    "NamePrefix": {"default": "Name prefix (same as the hub)"},
                    "AllowedPatchGroups": {"default": f"Patchable {conventions.PATCH_TAG_KEY} values"},
                    "HubArtifactBucketName": {"default": "Hub artifact bucket"},
                    "HubKeyArn": {"default": "Hub artifact bucket KMS key ARN"},
                },
            }
        }
    )
    return parameters


def add_spoke_role(template: Template, parameters: SpokeParameters) -> Role:
    """The role the hub's fleet functions assume: patch and snapshot tagged instances, read status, cancel."""
    hub_account, hub_region = Ref(parameters.hub_account_id), Ref(parameters.hub_region)
    trust = policy_document(
        [
            Statement(
                Sid="HubFleetRolesWithExternalId",
                Effect=Allow,
                Principal=Principal("AWS", account_root("${Hub}", Hub=hub_account)),
                Action=[sts.AssumeRole, sts.SetSourceIdentity],
                Condition=Condition(
                    [
                        StringEquals("sts:ExternalId", Ref(parameters.external_id)),
                        # ArnEquals on names, not principals: needs no role to exist, and survives their recreation.
                        ArnEquals(
                            "aws:PrincipalArn",
                            naming.hub_fleet_role_arns(
                                "${HubAccountId}", "${HubRegion}", HubAccountId=hub_account, HubRegion=hub_region
                            ),
                        ),
                    ]
                ),
            )
        ]
    )
    tag_condition = f"ssm:resourceTag/{conventions.PATCH_TAG_KEY}"
    permissions = policy_document(
        [
            Statement(
                # The spoke's own documents only: never AWS-RunPatchBaseline, whose parameters IAM cannot limit.
                # The wrapper's aws:runDocument step fetches it on the instance, with the instance's credentials.
                Sid="SendThisSpokesPatchAndSnapshotDocuments",
                Effect=Allow,
                Action=[ssm.SendCommand],
                Resource=[
                    arn("ssm", f"document/{conventions.PATCH_WRAPPER_DOCUMENT_NAME.format(prefix='${NamePrefix}')}"),
                    arn("ssm", f"document/{conventions.SNAPSHOT_DOCUMENT_NAME.format(prefix='${NamePrefix}')}"),
                ],
            ),
            Statement(
                Sid="SendCommandsToTaggedInstances",
                Effect=Allow,
                Action=[ssm.SendCommand],
                Resource=[arn("ec2", "instance/*")],
                Condition=Condition(StringLike(tag_condition, Ref(parameters.allowed_patch_groups))),
            ),
            # The four statements below cover actions that have no resource-level permissions in IAM.
            Statement(
                Sid="DiscoverInstances",
                Effect=Allow,
                Action=[ec2.DescribeInstances, ssm.DescribeInstanceInformation],
                Resource=["*"],
            ),
            Statement(
                Sid="TrackCommands",
                Effect=Allow,
                Action=[ssm.GetCommandInvocation, ssm.ListCommandInvocations, ssm.ListCommands],
                Resource=["*"],
            ),
            Statement(
                Sid="CancelCommandsOnAbort",
                Effect=Allow,
                Action=[ssm.CancelCommand],
                Resource=["*"],
            ),
        ]
    )
    return template.add_resource(
        Role(
            "SpokeRole",
            RoleName=naming.spoke_role_name(),
            Description="Assumed by the patch orchestrator hub (ExternalId) to patch tagged instances here.",
            AssumeRolePolicyDocument=trust,
            MaxSessionDuration=3600,
            Policies=[Policy(PolicyName="patch-orchestration", PolicyDocument=permissions)],
        )
    )


def add_instance_output_policy(template: Template, parameters: SpokeParameters) -> ManagedPolicy:
    """Attachable to instance profiles: write this account's Run Command output into the hub bucket."""
    bucket = Ref(parameters.hub_artifact_bucket)
    bucket_arn = arn("s3", "${Bucket}", region=False, account=False, Bucket=bucket)
    key_arn = Ref(parameters.hub_key_arn)
    hub_region = Select(3, Split(":", key_arn))
    own_prefix = naming.instance_output_objects("${AWS::AccountId}")
    document = policy_document(
        [
            Statement(
                Sid="WriteThisAccountsRunCommandOutput",
                Effect=Allow,
                Action=[s3.PutObject],
                Resource=[
                    arn(
                        "s3",
                        "${Bucket}/" + own_prefix,
                        region=False,
                        account=False,
                        Bucket=bucket,
                    )
                ],
            ),
            Statement(
                Sid="CheckBucketEncryption",
                Effect=Allow,
                Action=[s3.GetEncryptionConfiguration],
                Resource=[bucket_arn],
            ),
            Statement(
                Sid="EncryptWithHubKeyThroughS3",
                Effect=Allow,
                Action=[kms.Decrypt, kms.GenerateDataKey],
                Resource=[key_arn],
                Condition=Condition(
                    StringEquals(
                        {
                            "kms:ViaService": Sub("s3.${HubRegion}.amazonaws.com", HubRegion=hub_region),
                            "kms:EncryptionContext:aws:s3:arn": bucket_arn,
                        }
                    )
                ),
            ),
        ]
    )
    return template.add_resource(
        ManagedPolicy(
            "InstanceOutputPolicy",
            Condition=SHARE_INSTANCE_OUTPUT,
            ManagedPolicyName=naming.prefixed("-instance-output-${AWS::Region}"),
            Description="Lets instances write this account's Run Command output to the hub artifact bucket.",
            PolicyDocument=document,
        )
    )


def add_spoke_outputs(template: Template, refs: SpokeRefs) -> None:
    """Outputs the hub operators and instance-profile owners need."""
    template.add_output(
        [
            Output("SpokeRoleArn", Description="Role the hub assumes here.", Value=GetAtt(refs.role, "Arn")),
            Output("PatchDocumentName", Description="Patch wrapper document.", Value=Ref(refs.patch_document)),
            Output(
                "SnapshotDocumentName",
                Description="Pre-patch snapshot document.",
                Value=Ref(refs.snapshot_document),
            ),
            Output(
                "InstanceOutputPolicyArn",
                Condition=SHARE_INSTANCE_OUTPUT,
                Description="Attach to instance profiles so Run Command output reaches the hub bucket.",
                Value=Ref(refs.instance_output_policy),
                Export=Export(Sub("${AWS::StackName}-InstanceOutputPolicyArn")),
            ),
        ]
    )
