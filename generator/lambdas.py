"""The hub's Lambda functions: one function, one role and one log group per handler, all from one package.

A concern declares its functions as ``FunctionSpec`` constants and adds each with ``Lambdas.add``, passing what
the role may do beyond writing its own logs: grants offered by the owners of what it touches (the run table's,
the bucket's, the topics', the keys'). A function's environment is exactly the settings of its environment class
(``handlers.contract.environment``), each bound to the value its owner provides (``settings()`` of the storage,
messaging, parameter and key refs), so the template and the handler cannot disagree on a variable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from awacs import logs, xray
from troposphere import GetAtt, If, PropsDictType, Ref, Sub, Template
from troposphere.awslambda import Code, DeadLetterConfig, Environment, Function, LoggingConfig, TracingConfig
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup

from generator import naming, suppressions
from generator.asl.tasks import FunctionTarget
from generator.encryption import EncryptionRefs
from generator.iam import Grant, arn, grants_document, service_trust
from generator.parameters import HAS_CODE_OBJECT_VERSION, HAS_CODE_SIGNING, Concurrency, HubParameters
from generator.retention import add_log_group
from handlers.contract.environment import FunctionEnv, Variable

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
# The state machine's task timeout outlasts the function's own, so a slow invoke fails as a Lambda timeout.
TASK_TIMEOUT_MARGIN_SECONDS = 30

# Lambda's system log level: platform lines (start, end, report) only when something is wrong.
SYSTEM_LOG_LEVEL = "WARN"

Settings = Mapping[Variable, Any]


class JsonLoggingConfig(LoggingConfig):  # type: ignore[misc]  # troposphere has no type information
    """``LoggingConfig`` with ``LogFormat``, which troposphere 4.11.1 leaves out (a name clash in its generated code;
    no later release). JSON format is what lets Lambda apply the application and system log levels."""

    props: ClassVar[PropsDictType] = {**LoggingConfig.props, "LogFormat": (str, False)}


@dataclass(frozen=True)
class FunctionSpec:
    """One handler: its module, sizing, reserved-concurrency class and the environment class it reads."""

    name: str
    module: str
    description: str
    timeout: int
    memory: int
    concurrency: Concurrency
    env: type[FunctionEnv]

    @property
    def kebab(self) -> str:
        return self.module.replace("_", "-")


@dataclass(frozen=True)
class LambdaRefs:
    spec: FunctionSpec
    function: Function
    role: Role
    log_group: LogGroup

    @property
    def arn(self) -> GetAtt:
        return GetAtt(self.function, "Arn")

    def target(self) -> FunctionTarget:
        """The function as the workflow invokes it, with a task timeout that outlasts the function's own."""
        return FunctionTarget(self.spec.name, self.arn, self.spec.timeout + TASK_TIMEOUT_MARGIN_SECONDS)


def merge_settings(*parts: Settings) -> dict[Variable, Any]:
    """The settings of several owners together; a variable two owners bind is a wiring bug."""
    merged: dict[Variable, Any] = {}
    for part in parts:
        for variable, value in part.items():
            if variable in merged:
                raise ValueError(f"setting {variable.name} is bound twice")
            merged[variable] = value
    return merged


@dataclass(frozen=True)
class Lambdas:
    """Adds functions to the hub template: code, runtime, logs, tracing and environment done one way."""

    template: Template
    parameters: HubParameters
    encryption: EncryptionRefs
    settings: Settings = field(default_factory=dict)

    def add(
        self,
        spec: FunctionSpec,
        *,
        grants: Iterable[Grant],
        role_name: Sub | None = None,
        dead_letter_arn: Any = None,
        settings: Settings | None = None,
    ) -> LambdaRefs:
        """``spec``'s function, its role (own logs, traces and ``grants``) and its log group.

        ``role_name`` for roles other policies name (spoke trust, the signing key); ``dead_letter_arn`` for
        functions invoked asynchronously; ``settings`` binds what only this concern knows (the API's URL)."""
        log_group = add_log_group(
            self.template,
            f"{spec.name}LogGroup",
            naming.prefixed(f"-{spec.kebab}", before="/aws/lambda/"),
            retention_days=Ref(self.parameters.log_retention_days),
            key_arn=self.encryption.key_arn,
        )
        role = self.template.add_resource(_role(spec, log_group, grants, role_name))
        extra: dict[str, Any] = {}
        if dead_letter_arn is not None:
            extra["DeadLetterConfig"] = DeadLetterConfig(TargetArn=dead_letter_arn)
        function = self.template.add_resource(
            Function(
                f"{spec.name}Function",
                Metadata={"checkov": suppressions.checkov(*_suppressed(asynchronous=dead_letter_arn is not None))},
                FunctionName=naming.prefixed(f"-{spec.kebab}"),
                Description=spec.description,
                Runtime=RUNTIME,
                Architectures=[ARCHITECTURE],
                Handler=f"handlers.{spec.module}.lambda_handler",
                Code=Code(
                    S3Bucket=Ref(self.parameters.code_bucket),
                    S3Key=Ref(self.parameters.code_key),
                    S3ObjectVersion=If(
                        HAS_CODE_OBJECT_VERSION, Ref(self.parameters.code_object_version), Ref("AWS::NoValue")
                    ),
                ),
                CodeSigningConfigArn=If(
                    HAS_CODE_SIGNING, Ref(self.parameters.code_signing_config), Ref("AWS::NoValue")
                ),
                Layers=[Ref(self.parameters.powertools_layer)],
                Role=GetAtt(role, "Arn"),
                Timeout=spec.timeout,
                MemorySize=spec.memory,
                ReservedConcurrentExecutions=self.parameters.reserved_concurrency(spec.concurrency),
                Environment=Environment(Variables=self._environment(spec, settings or {})),
                KmsKeyArn=self.encryption.key_arn,
                TracingConfig=TracingConfig(Mode="Active"),
                LoggingConfig=JsonLoggingConfig(
                    LogGroup=Ref(log_group),
                    LogFormat="JSON",
                    ApplicationLogLevel=Ref(self.parameters.function_log_level),
                    SystemLogLevel=SYSTEM_LOG_LEVEL,
                ),
                **extra,
            )
        )
        return LambdaRefs(spec, function, role, log_group)

    def _environment(self, spec: FunctionSpec, own: Settings) -> dict[str, Any]:
        available = merge_settings(self.settings, own)
        missing = [variable.name for variable in spec.env.settings() if variable not in available]
        if missing:
            raise ValueError(f"{spec.name} reads {', '.join(missing)}, which no concern of the hub provides")
        return {variable.name: available[variable] for variable in spec.env.settings()}


def _role(spec: FunctionSpec, log_group: LogGroup, grants: Iterable[Grant], role_name: Sub | None) -> Role:
    # No grant for the environment's key: Lambda decrypts it through a grant of its own made at deploy time.
    own = (
        Grant(
            "WriteOwnLogs",
            (logs.CreateLogStream, logs.PutLogEvents),
            (arn("logs", "log-group:${Group}:*", Group=Ref(log_group)),),
        ),
        # X-Ray has no resource-level permissions.
        Grant("WriteTraces", (xray.PutTelemetryRecords, xray.PutTraceSegments), ("*",)),
    )
    return Role(
        f"{spec.name}FunctionRole",
        Description=f"{spec.name} function of the patch orchestrator hub.",
        AssumeRolePolicyDocument=service_trust("lambda.amazonaws.com", confine=False),
        Policies=[Policy(PolicyName=spec.kebab, PolicyDocument=grants_document((*own, *grants)))],
        **({"RoleName": role_name} if role_name is not None else {}),
    )


def _suppressed(*, asynchronous: bool) -> tuple[tuple[str, str], ...]:
    if asynchronous:
        return (suppressions.NO_VPC_RESOURCES,)
    return (suppressions.SYNCHRONOUS_FUNCTION, suppressions.NO_VPC_RESOURCES)
