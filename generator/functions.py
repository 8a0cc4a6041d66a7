"""The hub's Lambda functions: one function, one role, one log group per handler, all from one package.

Each function is declared once in ``FUNCTIONS`` with what it may do beyond writing its own logs; the role is
built from exactly that. Functions that work in spokes get roles named by the fleet convention, which is
what spoke trust policies admit; the approval functions get roles named by the approval convention, which is
what the approval signing key's policy admits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from awacs.aws import (
    Action,
    Condition,
    ForAllValuesStringEquals,
    ForAllValuesStringLike,
    StringEquals,
    StringEqualsIfExists,
)
from troposphere import GetAtt, If, Parameter, Ref, Sub, Template
from troposphere.awslambda import Code, DeadLetterConfig, Environment, Function, LoggingConfig, TracingConfig
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup

from generator import naming, suppressions
from generator.approval_signing import DECISION, PAGE, REQUEST, ApprovalSigningRefs
from generator.asl.tasks import FunctionTarget
from generator.asl.workflow import WorkflowFunctions
from generator.encryption import EncryptionRefs
from generator.iam import Grant, grants_document, service_trust, table_key_grant
from generator.messaging import MessagingRefs
from generator.parameters import SHARES_INSTANCE_OUTPUT, HubParameters
from generator.retention import retained
from generator.run_stops import StopQueueRefs
from generator.spoke_access import SpokeAccessRefs
from generator.storage import StorageRefs
from handlers.contract import table

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
# The state machine's task timeout outlasts the function's own, so a slow invoke fails as a Lambda timeout.
TASK_TIMEOUT_MARGIN_SECONDS = 30

Concurrency = Literal["fleet", "record", "control", "approval"]
Setting = Literal["bucket", "topic", "concurrency", "instance_output", "approval_request", "approval_key"]


@dataclass(frozen=True)
class HubResources:
    """What function permissions and settings refer to."""

    storage: StorageRefs
    messaging: MessagingRefs
    spoke_access: SpokeAccessRefs
    encryption: EncryptionRefs
    approval_signing: ApprovalSigningRefs
    approval_api_url: Sub
    stop_queue: StopQueueRefs


@dataclass(frozen=True)
class FunctionSpec:
    """One handler: its module, sizing, settings, and what its role may do beyond its own logs."""

    name: str
    module: str
    description: str
    timeout: int
    memory: int
    concurrency: Concurrency
    grants: Callable[[HubResources], tuple[Grant, ...]]
    settings: tuple[Setting, ...] = ()
    # Set for functions that work in spokes: the role gets the fleet name spoke roles trust, the right to assume
    # them and to read the ExternalId, and the function the secret's ARN.
    fleet_role: str | None = None
    # Set for the approval functions: the role gets the name the approval signing key's policy admits.
    approval_role: str | None = None
    # Invoked asynchronously (by EventBridge): failed events go to the run-stop dead-letter queue.
    dead_letter: bool = False

    @property
    def kebab(self) -> str:
        return self.module.replace("_", "-")


RUN_ITEMS = table.run_pk("*")
APPROVAL_ITEMS = table.approval_pk("*")


def _table(
    *actions: str, partitions: tuple[str, ...] = (RUN_ITEMS,), attributes: tuple[str, ...] = ()
) -> Callable[[HubResources], tuple[Grant, ...]]:
    """Table access limited to the partitions a function works on (``dynamodb:LeadingKeys``): only the approval
    functions reach approval items, which hold task tokens. ``attributes``: the only attributes it may read."""
    conditions: list[Any] = [ForAllValuesStringLike("dynamodb:LeadingKeys", list(partitions))]
    if attributes:
        conditions += [
            ForAllValuesStringEquals("dynamodb:Attributes", list(attributes)),
            StringEqualsIfExists("dynamodb:Select", "SPECIFIC_ATTRIBUTES"),
        ]

    def grants(hub: HubResources) -> tuple[Grant, ...]:
        return (
            Grant(
                "UseRunTable",
                tuple(Action("dynamodb", a) for a in actions),
                (hub.storage.table_arn,),
                Condition(conditions),
            ),
            table_key_grant(hub.encryption.key_arn),
        )

    return grants


def _with(*parts: Callable[[HubResources], tuple[Grant, ...]]) -> Callable[[HubResources], tuple[Grant, ...]]:
    return lambda hub: tuple(grant for part in parts for grant in part(hub))


def _write_artifacts(pattern: str) -> Callable[[HubResources], tuple[Grant, ...]]:
    def grants(hub: HubResources) -> tuple[Grant, ...]:
        return (
            Grant("WriteArtifacts", (Action("s3", "PutObject"),), (hub.storage.objects(pattern),)),
            Grant(
                "EncryptArtifacts",
                (Action("kms", "GenerateDataKey"),),
                (hub.encryption.key_arn,),
                Condition(StringEquals("kms:ViaService", Sub("s3.${AWS::Region}.amazonaws.com"))),
            ),
        )

    return grants


def _notify(hub: HubResources) -> tuple[Grant, ...]:
    return (
        Grant("PublishRunNotifications", (Action("sns", "Publish"),), (hub.messaging.topic_arn,)),
        _sns_key(hub),
    )


def _ask_approvers(hub: HubResources) -> tuple[Grant, ...]:
    return (
        Grant(
            "PublishApprovalRequests",
            (Action("sns", "ListSubscriptionsByTopic"), Action("sns", "Publish")),
            (hub.messaging.approval_topic_arn,),
        ),
        # Who reads the approvals topic (each subscription's filter); no resource-level permissions.
        Grant("ReadApprovalSubscriptions", (Action("sns", "GetSubscriptionAttributes"),), ("*",)),
        _sns_key(hub),
        hub.approval_signing.sign_grant(),
    )


def _verify_links(hub: HubResources) -> tuple[Grant, ...]:
    return (hub.approval_signing.verify_grant(),)


def _answer_workflow(hub: HubResources) -> tuple[Grant, ...]:
    # SendTaskSuccess/Failure have no resource-level permissions; the task token itself names the task.
    return (
        Grant(
            "AnswerWaitingWorkflow",
            (Action("states", "SendTaskFailure"), Action("states", "SendTaskSuccess")),
            ("*",),
        ),
    )


def _sns_key(hub: HubResources) -> Grant:
    return Grant(
        "EncryptNotifications",
        (Action("kms", "Decrypt"), Action("kms", "GenerateDataKey")),
        (hub.encryption.key_arn,),
        Condition(StringEquals("kms:ViaService", Sub("sns.${AWS::Region}.amazonaws.com"))),
    )


FUNCTIONS = (
    FunctionSpec(
        "ValidateRun", "validate_run", "Checks and normalises a run document; records the run once.",
        timeout=30, memory=256, concurrency="control",
        # GetItem, Query and BatchWriteItem: a re-run reads the earlier run and records its selection.
        grants=_table("BatchWriteItem", "GetItem", "PutItem", "Query"), settings=("concurrency",),
    ),
    FunctionSpec(
        "Discover", "discover", "Finds a target's tagged instances and which SSM can reach.",
        timeout=120, memory=512, concurrency="fleet", grants=_table("BatchWriteItem", "GetItem"), fleet_role="discover",
    ),
    FunctionSpec(
        "SendCommand", "send_command", "Sends one snapshot or patch command per target and phase (ledgered).",
        timeout=60, memory=256, concurrency="fleet",
        grants=_table("GetItem", "PutItem", "Query", "UpdateItem"), settings=("bucket", "instance_output"),
        fleet_role="send",
    ),
    FunctionSpec(
        "PollCommand", "poll_command", "Polls a command; records every instance's result when it ends.",
        timeout=300, memory=512, concurrency="fleet", grants=_table("UpdateItem"), fleet_role="poll",
    ),
    FunctionSpec(
        "StoreSnapshots", "store_snapshots", "Copies pre-patch snapshot output into the artifact bucket.",
        timeout=600, memory=512, concurrency="fleet",
        grants=_with(_table("Query", "UpdateItem"), _write_artifacts("runs/*/pre/*")), settings=("bucket",),
        fleet_role="snapshots",
    ),
    FunctionSpec(
        "RecordTarget", "record_target", "Closes a target: every instance gets a final state; 200/206/500.",
        timeout=300, memory=512, concurrency="record", grants=_table("GetItem", "PutItem", "Query", "UpdateItem"),
        # In a spoke only to settle a failed target's patch command (record its results, cancel the rest).
        fleet_role="record",
    ),
    FunctionSpec(
        "EvaluateWave", "evaluate_wave", "Judges a wave against its failure budget; halts the run if exceeded.",
        timeout=60, memory=256, concurrency="control", grants=_table("Query", "UpdateItem"),
    ),
    FunctionSpec(
        "Finalize", "finalize", "Decides the run outcome, writes the report, notifies.",
        timeout=600, memory=1024, concurrency="control",
        grants=_with(_table("Query", "UpdateItem"), _write_artifacts("runs/*/report/*"), _notify),
        settings=("bucket", "topic"),
    ),
    FunctionSpec(
        "RequestApproval", "request_approval", "Keeps a wave's task token and emails signed approval links.",
        timeout=60, memory=256, concurrency="approval",
        grants=_with(_table("PutItem", "Query", "UpdateItem", partitions=(RUN_ITEMS, APPROVAL_ITEMS)), _ask_approvers),
        settings=("approval_request",),
        approval_role=REQUEST,
    ),
    FunctionSpec(
        "ApprovalPage", "approval_page", "Shows what an approval link will decide (GET; changes nothing).",
        timeout=10, memory=256, concurrency="approval",
        # Never the task token: the page reads only what it shows.
        grants=_with(
            _table("GetItem", partitions=(APPROVAL_ITEMS,), attributes=table.APPROVAL_PAGE_ATTRIBUTES), _verify_links
        ),
        settings=("approval_key",), approval_role=PAGE,
    ),
    FunctionSpec(
        "ApprovalDecision", "approval_decision", "Records an approval decision once and tells the workflow (POST).",
        timeout=15, memory=256, concurrency="approval",
        grants=_with(_table("GetItem", "UpdateItem", partitions=(APPROVAL_ITEMS,)), _verify_links, _answer_workflow),
        settings=("approval_key",),
        approval_role=DECISION,
    ),
    FunctionSpec(
        "CancelRun", "cancel_run", "Cancels the commands of a run whose execution stopped early; closes its record.",
        timeout=300, memory=256, concurrency="control",
        grants=_with(_table("Query", "UpdateItem"), _notify), settings=("topic",),
        # In a spoke only to cancel the run's commands still running there.
        fleet_role="cancel", dead_letter=True,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class FunctionRefs:
    functions: dict[str, Function]
    roles: dict[str, Role]
    log_groups: dict[str, LogGroup]

    def target(self, name: str) -> FunctionTarget:
        spec = next(spec for spec in FUNCTIONS if spec.name == name)
        return FunctionTarget(name, GetAtt(self.functions[name], "Arn"), spec.timeout + TASK_TIMEOUT_MARGIN_SECONDS)

    def workflow(self) -> WorkflowFunctions:
        """The functions as the workflow invokes them."""
        return WorkflowFunctions(
            validate_run=self.target("ValidateRun"),
            discover=self.target("Discover"),
            send_command=self.target("SendCommand"),
            poll_command=self.target("PollCommand"),
            store_snapshots=self.target("StoreSnapshots"),
            record_target=self.target("RecordTarget"),
            evaluate_wave=self.target("EvaluateWave"),
            finalize=self.target("Finalize"),
            request_approval=self.target("RequestApproval"),
        )


def add_functions(template: Template, parameters: HubParameters, hub: HubResources) -> FunctionRefs:
    """Every handler's function, role and log group."""
    refs = FunctionRefs({}, {}, {})
    for spec in FUNCTIONS:
        log_group = template.add_resource(
            retained(
                LogGroup(
                    f"{spec.name}LogGroup",
                    LogGroupName=naming.prefixed(f"-{spec.kebab}", before="/aws/lambda/"),
                    RetentionInDays=Ref(parameters.log_retention_days),
                    KmsKeyId=hub.encryption.key_arn,
                )
            )
        )
        role = template.add_resource(_role(spec, hub, log_group))
        refs.log_groups[spec.name] = log_group
        refs.roles[spec.name] = role
        refs.functions[spec.name] = template.add_resource(
            Function(
                f"{spec.name}Function",
                Metadata={"checkov": suppressions.checkov(*_suppressed(spec))},
                FunctionName=naming.prefixed(f"-{spec.kebab}"),
                Description=spec.description,
                Runtime=RUNTIME,
                Architectures=[ARCHITECTURE],
                Handler=f"handlers.{spec.module}.lambda_handler",
                Code=Code(S3Bucket=Ref(parameters.code_bucket), S3Key=Ref(parameters.code_key)),
                Layers=[Ref(parameters.powertools_layer)],
                Role=GetAtt(role, "Arn"),
                Timeout=spec.timeout,
                MemorySize=spec.memory,
                ReservedConcurrentExecutions=Ref(_concurrency(parameters, spec.concurrency)),
                Environment=Environment(Variables=_environment(spec, parameters, hub)),
                KmsKeyArn=hub.encryption.key_arn,
                TracingConfig=TracingConfig(Mode="Active"),
                LoggingConfig=LoggingConfig(LogGroup=Ref(log_group)),
                **({"DeadLetterConfig": DeadLetterConfig(TargetArn=hub.stop_queue.arn)} if spec.dead_letter else {}),
            )
        )
    return refs


def _role(spec: FunctionSpec, hub: HubResources, log_group: LogGroup) -> Role:
    # No grant for the environment's key: Lambda decrypts it through a grant of its own made at deploy time.
    own = (
        Grant(
            "WriteOwnLogs",
            (Action("logs", "CreateLogStream"), Action("logs", "PutLogEvents")),
            (Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${Group}:*",
                 Group=Ref(log_group)),),
        ),
        # X-Ray has no resource-level permissions.
        Grant("WriteTraces", (Action("xray", "PutTelemetryRecords"), Action("xray", "PutTraceSegments")), ("*",)),
    )  # fmt: skip
    extra = {}
    if spec.fleet_role:
        extra["RoleName"] = naming.hub_fleet_role_name(spec.fleet_role)
    if spec.approval_role:
        extra["RoleName"] = naming.hub_approval_role_name(spec.approval_role)
    fleet = hub.spoke_access.fleet_grants() if spec.fleet_role else ()
    if spec.dead_letter:
        fleet = (*fleet, hub.stop_queue.send_grant())
    return Role(
        f"{spec.name}FunctionRole",
        Description=f"{spec.name} function of the patch orchestrator hub.",
        AssumeRolePolicyDocument=service_trust("lambda.amazonaws.com", confine=False),
        Policies=[Policy(PolicyName=spec.kebab, PolicyDocument=grants_document((*own, *fleet, *spec.grants(hub))))],
        **extra,
    )


def _suppressed(spec: FunctionSpec) -> tuple[tuple[str, str], ...]:
    if spec.dead_letter:
        return (suppressions.NO_VPC_RESOURCES,)
    return (suppressions.SYNCHRONOUS_FUNCTION, suppressions.NO_VPC_RESOURCES)


def _concurrency(parameters: HubParameters, kind: Concurrency) -> Parameter:
    return {
        "fleet": parameters.fleet_concurrency,
        "record": parameters.record_concurrency,
        "control": parameters.control_concurrency,
        "approval": parameters.approval_concurrency,
    }[kind]


def _environment(spec: FunctionSpec, parameters: HubParameters, hub: HubResources) -> dict[str, object]:
    variables: dict[str, object] = {
        "RUN_TABLE_NAME": Ref(hub.storage.run_table),
        "NAME_PREFIX": Ref(parameters.name_prefix),
        "AWS_PARTITION": Ref("AWS::Partition"),
        "RECORD_RETENTION_DAYS": Ref(parameters.record_retention_days),
    }
    settings: dict[Setting, dict[str, object]] = {
        "bucket": {"ARTIFACT_BUCKET": Ref(hub.storage.artifact_bucket)},
        "topic": {"NOTIFICATION_TOPIC_ARN": hub.messaging.topic_arn},
        "concurrency": {
            "ACCOUNT_CONCURRENCY": Ref(parameters.account_concurrency),
            "REGION_CONCURRENCY": Ref(parameters.region_concurrency),
        },
        "instance_output": {"INSTANCE_OUTPUT": If(SHARES_INSTANCE_OUTPUT, "true", "false")},
        "approval_request": {
            "APPROVAL_TOPIC_ARN": hub.messaging.approval_topic_arn,
            "APPROVAL_KEY_ARN": hub.approval_signing.key_arn,
            "APPROVAL_API_URL": hub.approval_api_url,
        },
        "approval_key": {"APPROVAL_KEY_ARN": hub.approval_signing.key_arn},
    }
    if spec.fleet_role:
        variables["EXTERNAL_ID_SECRET_ARN"] = Ref(hub.spoke_access.external_id)
    for setting in spec.settings:
        variables |= settings[setting]
    return variables
