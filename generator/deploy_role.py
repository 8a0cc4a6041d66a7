"""The deploy-role template: what an account needs before ``python -m generator deploy`` can run from GitHub.

Deployed once per environment, by hand, in the environment's hub account (docs/deploying.md). It holds:

- GitHub's OIDC provider (or reuses the account's: an account has one provider per URL);
- the deploy role the workflow assumes, trusted only by tokens for sts.amazonaws.com issued to one repository's
  jobs in one GitHub environment, and allowed only the calls ``generator/deploy.py`` makes (plus
  ValidateStateMachineDefinition, which the workflow calls first);
- the code bucket the handler package and the templates are uploaded to;
- the CloudFormation execution role: CloudFormation, not the deploy role, creates the hub's resources, so the
  deploy role holds no IAM, Lambda or KMS administration and may only pass this role to CloudFormation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from awacs import cloudformation, iam, kms, organizations, s3, secretsmanager, states, sts
from awacs.aws import Action, Allow, Condition, Principal, Statement, StringEquals, StringLike
from troposphere import Equals, GetAtt, If, Output, Parameter, Ref, Sub, Template
from troposphere.iam import OIDCProvider, Policy, Role
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
from generator.iam import Grant, arn, deny_insecure_transport, grants_document, policy_document
from generator.retention import retained

DESCRIPTION = (
    "EC2 Patching Orchestrator deploy role: GitHub OIDC trust for one repository and environment, the code bucket, "
    "and the CloudFormation execution role that creates the hub."
)
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
CREATES_OIDC_PROVIDER = "CreatesOidcProvider"
# Long enough for a hub update and a StackSet operation across an organisation (deploy.py waits up to 4 hours
# for one; the workflow asks for the same duration).
DEPLOY_SESSION_SECONDS = 4 * 3600
CODE_VERSION_DAYS = 90
ABORT_UPLOAD_DAYS = 7
# Lower case: CloudFormation lowercases the bucket names it derives from a stack name, which the execution role
# matches with <HubStackName>-*.
STACK_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,127}$"


@dataclass(frozen=True)
class DeployRoleParameters:
    name_prefix: Parameter
    organization: Parameter
    repository: Parameter
    environment: Parameter
    existing_provider: Parameter
    hub_stack: Parameter
    stack_set: Parameter


def build_deploy_role() -> Template:
    """The complete deploy-role template, one concern per call."""
    template = Template(Description=DESCRIPTION)
    template.set_version()
    parameters = add_deploy_role_parameters(template)
    provider_arn = add_oidc_provider(template, parameters)
    bucket = add_code_bucket(template)
    execution_role = add_execution_role(template, bucket)
    deploy_role = add_deploy_role(template, parameters, provider_arn, bucket, execution_role)
    template.add_output(
        [
            Output("DeployRoleArn", Description="role-to-assume of the GitHub environment.", Value=deploy_role),
            Output(
                "CloudFormationRoleArn",
                Description="hub.cloudFormationRoleArn of deploy-<env>.json.",
                Value=GetAtt(execution_role, "Arn"),
            ),
            Output("CodeBucketName", Description="CodeBucket of hub-<env>.json.", Value=Ref(bucket)),
            Output("GitHubOidcProviderArn", Description="The OIDC provider the role trusts.", Value=provider_arn),
        ]
    )
    return template


def add_deploy_role_parameters(template: Template) -> DeployRoleParameters:
    """Who may deploy (repository and environment) and what (the hub stack and the spoke StackSet)."""

    def text(name: str, pattern: str, description: str, default: str | None = None) -> Parameter:
        extra = {"Default": default} if default is not None else {}
        return template.add_parameter(
            Parameter(name, Type="String", AllowedPattern=pattern, Description=description, **extra)
        )

    parameters = DeployRoleParameters(
        name_prefix=naming.add_name_prefix(template),
        organization=text(
            "GitHubOrganization", r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", "GitHub owner of the repository (org or user)."
        ),
        repository=text("GitHubRepository", r"^[A-Za-z0-9._-]{1,100}$", "Repository whose workflow deploys."),
        environment=text(
            "GitHubEnvironment",
            r"^[A-Za-z0-9._-]{1,255}$",
            "GitHub environment whose jobs may assume the role (the token's sub ends :environment:<name>).",
        ),
        existing_provider=text(
            "GitHubOidcProviderArn",
            r"^$|^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$",
            "The account's GitHub OIDC provider, when it has one (another environment's stack made it); "
            "empty creates it.",
            default="",
        ),
        hub_stack=text("HubStackName", STACK_NAME_PATTERN, "hub.stackName of deploy-<env>.json."),
        stack_set=text("SpokeStackSetName", STACK_NAME_PATTERN, "spokes.stackSetName of deploy-<env>.json."),
    )
    template.add_condition(CREATES_OIDC_PROVIDER, Equals(Ref(parameters.existing_provider), ""))
    return parameters


def add_oidc_provider(template: Template, parameters: DeployRoleParameters) -> If:
    """GitHub's OIDC provider, unless the account already has one; returns the ARN the role trusts."""
    provider = template.add_resource(
        OIDCProvider(
            "GitHubOidcProvider",
            Condition=CREATES_OIDC_PROVIDER,
            Url=f"https://{GITHUB_OIDC_HOST}",
            ClientIdList=[GITHUB_AUDIENCE],
        )
    )
    return If(CREATES_OIDC_PROVIDER, Ref(provider), Ref(parameters.existing_provider))


def add_code_bucket(template: Template) -> Bucket:
    """Handler packages and templates, content-addressed: versioned, encrypted, private, TLS only.

    SSE-S3 rather than a customer key: CloudFormation, StackSets and Lambda read these objects with the deploy and
    execution roles' own permissions, and nothing in them is secret (the repository is public).
    """
    bucket = template.add_resource(
        retained(
            Bucket(
                "CodeBucket",
                Metadata={
                    "checkov": suppressions.checkov(
                        (
                            "CKV_AWS_18",
                            "Audit object access with CloudTrail S3 data events (an organisation trail); a "
                            "server-access-log bucket per hub is left to the landing zone.",
                        )
                    )
                },
                BucketName=naming.prefixed("-code-${AWS::AccountId}-${AWS::Region}"),
                BucketEncryption=BucketEncryption(
                    ServerSideEncryptionConfiguration=[
                        ServerSideEncryptionRule(
                            ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
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
                            NoncurrentVersionExpiration=NoncurrentVersionExpiration(NoncurrentDays=CODE_VERSION_DAYS),
                            AbortIncompleteMultipartUpload=AbortIncompleteMultipartUpload(
                                DaysAfterInitiation=ABORT_UPLOAD_DAYS
                            ),
                        )
                    ]
                ),
            )
        )
    )
    template.add_resource(
        BucketPolicy(
            "CodeBucketPolicy",
            Bucket=Ref(bucket),
            PolicyDocument=policy_document(
                [
                    deny_insecure_transport(
                        "DenyRequestsWithoutTls", [s3.Action("*")], [_bucket(bucket), _objects(bucket)]
                    )
                ]
            ),
        )
    )
    return bucket


def _bucket(bucket: Bucket) -> Sub:
    return arn("s3", "${Bucket}", region=False, account=False, Bucket=Ref(bucket))


def _objects(bucket: Bucket) -> Sub:
    return arn("s3", "${Bucket}/*", region=False, account=False, Bucket=Ref(bucket))


def add_execution_role(template: Template, bucket: Bucket) -> Role:
    """The role CloudFormation uses to create, update and delete the hub's resources.

    Each service's actions are allowed only on the names the hub gives its resources (``<NamePrefix>-...``) or
    CloudFormation generates for it (``<HubStackName>-<LogicalId>-...``); the few actions IAM cannot scope to a
    resource are listed apart. Whoever can change the hub template can already run code in the hub account, so
    this role bounds what a deploy reaches, not what the reviewed template may contain.
    """
    prefix, stack = "${NamePrefix}", "${HubStackName}"
    artifact_bucket = naming.ARTIFACT_BUCKET_NAME.format(prefix=prefix)
    statements = [
        _allow(
            "HubRoles",
            "iam",
            "AttachRolePolicy CreateRole DeleteRole DeleteRolePermissionsBoundary DeleteRolePolicy "
            "DetachRolePolicy GetRole GetRolePolicy ListAttachedRolePolicies ListRolePolicies PassRole "
            "PutRolePermissionsBoundary PutRolePolicy TagRole UntagRole UpdateAssumeRolePolicy UpdateRole "
            "UpdateRoleDescription",
            arn("iam", f"role/{prefix}-*", region=False),
            arn("iam", f"role/{stack}-*", region=False),
        ),
        _allow(
            "HubFunctions",
            "lambda",
            "AddPermission CreateFunction DeleteFunction DeleteFunctionCodeSigningConfig "
            "DeleteFunctionConcurrency GetFunction GetFunctionCodeSigningConfig GetFunctionRecursionConfig "
            "GetFunctionScalingConfig GetPolicy GetRuntimeManagementConfig PublishVersion PutFunctionConcurrency "
            "PutFunctionCodeSigningConfig PutFunctionRecursionConfig PutRuntimeManagementConfig RemovePermission "
            "TagResource UntagResource UpdateFunctionCode UpdateFunctionConfiguration",
            arn("lambda", f"function:{prefix}-*"),
        ),
        # The optional code signing configuration every function may name (CodeSigningConfigArn).
        _allow("ReadCodeSigningConfig", "lambda", "GetCodeSigningConfig", arn("lambda", "code-signing-config:*")),
        # Powertools is published from AWS's own accounts.
        _allow("UsePowertoolsLayer", "lambda", "GetLayerVersion", arn("lambda", "layer:*:*", account="*")),
        _allow("ReadHandlerPackage", "s3", "GetObject GetObjectVersion", _objects(bucket)),
        # The bucket handler's object-level calls.
        _allow(
            "HubArtifactBucketObjects",
            "s3",
            "DeleteObject PutObjectAcl",
            arn("s3", f"{artifact_bucket}/*", region=False, account=False),
        ),
        _allow(
            "HubRunTable",
            "dynamodb",
            "BatchWriteItem CreateTable DeleteItem DeleteResourcePolicy DeleteTable DescribeContinuousBackups "
            "DescribeContributorInsights DescribeTable DescribeTimeToLive GetItem GetResourcePolicy "
            "ListTagsOfResource PutItem PutResourcePolicy Query Scan TagResource UntagResource "
            "UpdateContinuousBackups UpdateContributorInsights UpdateItem UpdateTable UpdateTimeToLive",
            arn("dynamodb", f"table/{prefix}-*"),
        ),
        _allow(
            "HubArtifactBucket",
            "s3",
            "CreateBucket DeleteBucket DeleteBucketPolicy DeleteBucketWebsite GetAccelerateConfiguration "
            "GetAnalyticsConfiguration "
            "GetBucketAbac GetBucketAcl GetBucketCORS GetBucketLogging GetBucketMetadataTableConfiguration "
            "GetBucketNotification GetBucketObjectLockConfiguration GetBucketOwnershipControls GetBucketPolicy "
            "GetBucketPublicAccessBlock GetBucketTagging GetBucketVersioning GetBucketWebsite "
            "GetEncryptionConfiguration GetIntelligentTieringConfiguration GetInventoryConfiguration "
            "GetLifecycleConfiguration GetMetricsConfiguration GetReplicationConfiguration ListBucket "
            "ListTagsForResource PutAccelerateConfiguration PutAnalyticsConfiguration PutBucketAcl PutBucketCORS "
            "PutBucketLogging PutBucketNotification PutBucketObjectLockConfiguration PutBucketOwnershipControls "
            "PutBucketPolicy PutBucketPublicAccessBlock PutBucketTagging PutBucketVersioning PutBucketWebsite "
            "PutEncryptionConfiguration PutIntelligentTieringConfiguration PutInventoryConfiguration "
            "PutLifecycleConfiguration PutMetricsConfiguration TagResource "
            "UntagResource",
            arn("s3", artifact_bucket, region=False, account=False),
        ),
        _allow(
            "HubTopics",
            "sns",
            "CreateTopic DeleteTopic GetDataProtectionPolicy GetTopicAttributes ListSubscriptionsByTopic "
            "ListTagsForResource PutDataProtectionPolicy SetTopicAttributes Subscribe TagResource UntagResource",
            arn("sns", f"{prefix}-*"),
        ),
        _allow(
            "HubDeadLetterQueue",
            "sqs",
            "CreateQueue DeleteQueue GetQueueAttributes GetQueueUrl ListQueueTags SetQueueAttributes TagQueue "
            "UntagQueue",
            arn("sqs", f"{prefix}-*"),
        ),
        _allow(
            "HubExternalIdSecret",
            "secretsmanager",
            "CreateSecret DeleteResourcePolicy DeleteSecret DescribeSecret GetResourcePolicy GetSecretValue "
            "PutResourcePolicy TagResource UntagResource UpdateSecret",
            arn("secretsmanager", f"secret:{prefix}/*"),
        ),
        _allow(
            "HubStateMachine",
            "states",
            "CreateStateMachine DeleteStateMachine DescribeStateMachine ListTagsForResource TagResource "
            "UntagResource UpdateStateMachine",
            arn("states", f"stateMachine:{prefix}-*"),
        ),
        _allow(
            "HubLogGroups",
            "logs",
            "AssociateKmsKey CreateLogGroup CreateLogStream DeleteDataProtectionPolicy DeleteLogGroup "
            "DeleteRetentionPolicy DescribeLogStreams DisassociateKmsKey GetDataProtectionPolicy "
            "ListTagsForResource PutDataProtectionPolicy PutLogEvents PutRetentionPolicy TagResource "
            "UntagResource DeleteMetricFilter DescribeMetricFilters PutMetricFilter",
            arn("logs", f"log-group:/aws/lambda/{prefix}-*"),
            arn("logs", f"log-group:/aws/apigateway/{prefix}-*"),
            arn("logs", f"log-group:/aws/vendedlogs/states/{prefix}-*"),
        ),
        _allow(
            "HubAlarms",
            "cloudwatch",
            "DeleteAlarms DescribeAlarms ListTagsForResource PutMetricAlarm TagResource UntagResource",
            arn("cloudwatch", f"alarm:{prefix}-*"),
        ),
        _allow(
            "HubDashboard",
            "cloudwatch",
            "DeleteDashboards GetDashboard PutDashboard",
            arn("cloudwatch", f"dashboard/{prefix}-*", region=False),
        ),
        _allow(
            "HubRunStopRule",
            "events",
            "DeleteRule DescribeRule ListTagsForResource ListTargetsByRule PutRule PutTargets RemoveTargets "
            "TagResource UntagResource",
            arn("events", f"rule/{stack}-*"),
        ),
        _allow(
            "HubApprovalApi",
            "apigateway",
            "DELETE GET PATCH POST PUT SetWebACL UpdateRestApiPolicy",
            arn("apigateway", "/restapis", account=False),
            arn("apigateway", "/restapis/*", account=False),
            arn("apigateway", "/account", account=False),
            arn("apigateway", "/tags/*", account=False),
        ),
        _allow(
            "AssociateApprovalWebAcl",
            "wafv2",
            "AssociateWebACL DisassociateWebACL GetPermissionPolicy GetWebACL GetWebACLForResource PutPermissionPolicy",
            arn("wafv2", "regional/webacl/*/*"),
        ),
        # Keys have no name to scope by; the hub's key policies delegate to IAM in this account.
        _allow(
            "HubKeys",
            "kms",
            "CreateGrant Decrypt DescribeKey DisableKey DisableKeyRotation EnableKey EnableKeyRotation Encrypt "
            "GenerateDataKey GetKeyPolicy GetKeyRotationStatus ListResourceTags PutKeyPolicy RevokeGrant "
            "ScheduleKeyDeletion TagResource UntagResource UpdateKeyDescription",
            arn("kms", "key/*"),
        ),
        _allow(
            "HubKeyAliases",
            "kms",
            "CreateAlias DeleteAlias UpdateAlias",
            arn("kms", f"alias/{prefix}-*"),
            arn("kms", "key/*"),
        ),
        # No resource-level permissions in IAM: creating a key, listing aliases and log groups, the log
        # deliveries of Step Functions and API Gateway, the approval email subscription, and the VPC lookups
        # Lambda's handler always makes.
        Statement(
            Sid="ActionsWithoutResourceScope",
            Effect=Allow,
            Action=[
                *_actions("ec2", "DescribeNetworkInterfaces DescribeSecurityGroups DescribeSubnets DescribeVpcs"),
                *_actions("kms", "CreateKey ListAliases"),
                *_actions(
                    "logs",
                    "CreateLogDelivery DeleteLogDelivery DeleteResourcePolicy DescribeLogGroups "
                    "DescribeResourcePolicies GetLogDelivery ListLogDeliveries PutResourcePolicy UpdateLogDelivery",
                ),
                *_actions("secretsmanager", "GetRandomPassword"),
                # A subscription's ARN is known only once it exists.
                *_actions("sns", "GetSubscriptionAttributes SetSubscriptionAttributes Unsubscribe"),
            ],
            Resource=["*"],
        ),
    ]
    return template.add_resource(
        Role(
            "CloudFormationExecutionRole",
            RoleName=naming.prefixed("-cloudformation-${AWS::Region}"),
            Description="CloudFormation creates the patch orchestrator hub with this role (passed by the deploy role).",
            # CloudFormation sends no source account or ARN when it assumes a service role.
            AssumeRolePolicyDocument=policy_document(
                [
                    Statement(
                        Sid="CloudFormation",
                        Effect=Allow,
                        Principal=Principal("Service", "cloudformation.amazonaws.com"),
                        Action=[sts.AssumeRole],
                    )
                ]
            ),
            Policies=[
                Policy(
                    PolicyName="create-the-hub",
                    PolicyDocument=policy_document(statements),
                )
            ],
        )
    )


def _actions(service: str, names: str) -> list[Action]:
    return [Action(service, name) for name in names.split()]


def _allow(sid: str, service: str, names: str, *resources: Any) -> Statement:
    """``names`` of ``service`` on ``resources``: what CloudFormation's handlers call for these resource types
    (the resource schemas' handler permissions; tests/generator/test_deploy_role.py compares them)."""
    return Statement(Sid=sid, Effect=Allow, Action=_actions(service, names), Resource=list(resources))


def add_deploy_role(
    template: Template,
    parameters: DeployRoleParameters,
    provider_arn: If,
    bucket: Bucket,
    execution_role: Role,
) -> GetAtt:
    """The role the deploy workflow assumes: exactly the calls of generator/deploy.py, on this environment's
    stack, StackSet, bucket and secret."""
    claims = f"{GITHUB_OIDC_HOST}:"
    trust = policy_document(
        [
            Statement(
                Sid="GitHubEnvironmentJobs",
                Effect=Allow,
                Principal=Principal("Federated", provider_arn),
                Action=[sts.AssumeRoleWithWebIdentity],
                Condition=Condition(
                    StringEquals(
                        {
                            f"{claims}aud": GITHUB_AUDIENCE,
                            f"{claims}sub": Sub(
                                "repo:${Organization}/${Repository}:environment:${Environment}",
                                Organization=Ref(parameters.organization),
                                Repository=Ref(parameters.repository),
                                Environment=Ref(parameters.environment),
                            ),
                        }
                    )
                ),
            )
        ]
    )
    hub_stack = arn("cloudformation", "stack/${HubStackName}/*")
    # Service-managed StackSets live in the organisation's management account, also when a delegated
    # administrator creates them: the account part of their ARN is not this account.
    stack_set = arn("cloudformation", "stackset/${SpokeStackSetName}:*", account="*")
    grants = [
        Grant("FindCodeBucket", (s3.GetBucketLocation, s3.ListBucket), (_bucket(bucket),)),
        # CloudFormation and StackSets read the templates with the caller's permissions.
        Grant("UploadAndReadCode", (s3.GetObject, s3.PutObject), (_objects(bucket),)),
        Grant(
            "DeployHubThroughChangeSets",
            (
                cloudformation.CreateChangeSet,
                cloudformation.DeleteChangeSet,
                cloudformation.DescribeChangeSet,
                cloudformation.DescribeStackEvents,
                cloudformation.DescribeStacks,
                cloudformation.ExecuteChangeSet,
                cloudformation.TagResource,
            ),
            (hub_stack,),
        ),
        Grant(
            "DeploySpokeStackSet",
            (
                cloudformation.CreateStackInstances,
                cloudformation.DescribeStackSet,
                cloudformation.DescribeStackSetOperation,
                cloudformation.ListStackInstances,
                cloudformation.ListStackSetOperationResults,
                cloudformation.TagResource,
                cloudformation.UpdateStackSet,
            ),
            (stack_set,),
        ),
        Grant(
            "StackInstancesInOrganisationTargets",
            (cloudformation.CreateStackInstances,),
            (
                arn("cloudformation", "stackset-target/${SpokeStackSetName}:*", account="*"),
                arn("cloudformation", "type/resource/*", account=False),
            ),
        ),
        # A StackSet's ARN holds the id CloudFormation gives it: creating one cannot be scoped to its name.
        Grant("CreateSpokeStackSet", (cloudformation.CreateStackSet,), ("*",)),
        # CallAs DELEGATED_ADMIN: CloudFormation checks the caller is a registered delegated administrator.
        Grant("CheckDelegatedAdministrator", (organizations.ListDelegatedAdministrators,), ("*",)),
        Grant(
            "PassExecutionRoleToCloudFormation",
            (iam.PassRole,),
            (GetAtt(execution_role, "Arn"),),
            Condition(StringEquals("iam:PassedToService", "cloudformation.amazonaws.com")),
        ),
        Grant(
            "ReadHubExternalId",
            (secretsmanager.GetSecretValue,),
            (arn("secretsmanager", "secret:${NamePrefix}/spoke-external-id-*"),),
        ),
        Grant(
            "DecryptExternalIdThroughSecretsManager",
            (kms.Decrypt,),
            (arn("kms", "key/*"),),
            Condition(
                [
                    StringEquals("kms:ViaService", Sub("secretsmanager.${AWS::Region}.amazonaws.com")),
                    StringLike(
                        "kms:EncryptionContext:SecretARN",
                        arn("secretsmanager", "secret:${NamePrefix}/spoke-external-id-*"),
                    ),
                ]
            ),
        ),
        # Validates a definition only (no resource): the workflow checks the generated one before any update.
        Grant("ValidateStateMachineDefinition", (states.ValidateStateMachineDefinition,), ("*",)),
    ]
    role = template.add_resource(
        Role(
            "DeployRole",
            RoleName=naming.prefixed("-github-deploy-${AWS::Region}"),
            Description="Assumed by the GitHub deploy workflow of one repository and environment.",
            AssumeRolePolicyDocument=trust,
            MaxSessionDuration=DEPLOY_SESSION_SECONDS,
            Policies=[Policy(PolicyName="deploy-the-hub-and-spokes", PolicyDocument=grants_document(grants))],
        )
    )
    return GetAtt(role, "Arn")
