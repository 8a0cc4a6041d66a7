"""Each function's environment: one frozen dataclass per function, read once per container.

A field is one of three kinds:

- a **setting** the template gives the function (``setting(RUN_TABLE_NAME)``): required, no default;
- a variable the **Lambda runtime** sets (``AWS_REGION``);
- a **tuning** knob with a default, which the template leaves alone (``SNAPSHOT_COPY_WORKERS``).

The generator sets exactly the settings of each function's class (``settings()``), and a test holds every
function in the template to its class. A missing setting is a deployment bug: reading the environment fails,
naming the variable, instead of a handler quietly skipping work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Self, TypeVar, get_type_hints

T = TypeVar("T")


class Source(Enum):
    TEMPLATE = "template"
    RUNTIME = "runtime"
    TUNING = "tuning"


@dataclass(frozen=True)
class Variable:
    """An environment variable's name and the Python type it is read as (``str``, ``int`` or ``bool``)."""

    name: str
    kind: type

    def parse(self, text: str) -> Any:
        if self.kind is bool:
            if text not in ("true", "false"):
                raise ValueError(f"environment variable {self.name} must be true or false, not {text!r}")
            return text == "true"
        if self.kind is int:
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"environment variable {self.name} must be a whole number, not {text!r}") from None
        return text


# Settings the template gives (the generator binds each to a CloudFormation value).
RUN_TABLE_NAME = Variable("RUN_TABLE_NAME", str)
RECORD_RETENTION_DAYS = Variable("RECORD_RETENTION_DAYS", int)
NAME_PREFIX = Variable("NAME_PREFIX", str)
AWS_PARTITION = Variable("AWS_PARTITION", str)
EXTERNAL_ID_SECRET_ARN = Variable("EXTERNAL_ID_SECRET_ARN", str)
ARTIFACT_BUCKET = Variable("ARTIFACT_BUCKET", str)
INSTANCE_OUTPUT = Variable("INSTANCE_OUTPUT", bool)
NOTIFICATION_TOPIC_ARN = Variable("NOTIFICATION_TOPIC_ARN", str)
PATCH_RUN_STATE_MACHINE_ARN = Variable("PATCH_RUN_STATE_MACHINE_ARN", str)
ACCOUNT_CONCURRENCY = Variable("ACCOUNT_CONCURRENCY", int)
REGION_CONCURRENCY = Variable("REGION_CONCURRENCY", int)
APPROVAL_TOPIC_ARN = Variable("APPROVAL_TOPIC_ARN", str)
APPROVAL_KEY_ARN = Variable("APPROVAL_KEY_ARN", str)
APPROVAL_API_URL = Variable("APPROVAL_API_URL", str)
# The deployer's approval policy (run_document.ApprovalPolicy).
APPROVAL_REQUIRED_WAVES = Variable("APPROVAL_REQUIRED_WAVES", str)
APPROVERS = Variable("APPROVERS", str)
# The accounts runs may target (comma-separated; empty: any of the organisation's).
TARGET_ACCOUNT_IDS = Variable("TARGET_ACCOUNT_IDS", str)
MINIMUM_APPROVERS = Variable("MINIMUM_APPROVERS", int)
MAXIMUM_APPROVAL_MINUTES = Variable("MAXIMUM_APPROVAL_MINUTES", int)
# Set by the Lambda runtime.
AWS_REGION = Variable("AWS_REGION", str)
# Tuning knobs (defaults in the classes below).
SNAPSHOT_COPY_WORKERS = Variable("SNAPSHOT_COPY_WORKERS", int)


def setting(variable: Variable) -> Any:
    """A field the template sets: required."""
    return dataclasses.field(metadata={"variable": variable, "source": Source.TEMPLATE})


def runtime(variable: Variable) -> Any:
    """A field the Lambda runtime sets: required, never in the template."""
    return dataclasses.field(metadata={"variable": variable, "source": Source.RUNTIME})


def tuning(variable: Variable, default: T) -> T:
    """A field with a default the template leaves alone (tests and operators may override it)."""
    return dataclasses.field(default=default, metadata={"variable": variable, "source": Source.TUNING})


@dataclass(frozen=True, kw_only=True)
class FunctionEnv:
    """What every function reads: its region and the run table."""

    region: str = runtime(AWS_REGION)
    table_name: str = setting(RUN_TABLE_NAME)

    @classmethod
    def settings(cls) -> tuple[Variable, ...]:
        """The variables the template must set for a function with this environment, in a fixed order."""
        return tuple(
            sorted(
                (f.metadata["variable"] for f in dataclasses.fields(cls) if f.metadata["source"] is Source.TEMPLATE),
                key=lambda variable: variable.name,
            )
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Self:
        """Read ``environ``; a missing setting fails loudly, naming it."""
        values: dict[str, Any] = {}
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            variable: Variable = f.metadata["variable"]
            if variable.kind is not hints[f.name]:
                raise TypeError(f"{cls.__name__}.{f.name} is {hints[f.name]} but {variable.name} reads {variable.kind}")
            if variable.name in environ:
                values[f.name] = variable.parse(environ[variable.name])
            elif f.metadata["source"] is not Source.TUNING:
                raise RuntimeError(f"environment variable {variable.name} is not set ({cls.__name__})")
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class RecordsEnv(FunctionEnv):
    """Functions that write run records (which expire after the record retention)."""

    retention_days: int = setting(RECORD_RETENTION_DAYS)


@dataclass(frozen=True, kw_only=True)
class SpokeAccessEnv(FunctionEnv):
    """Functions that assume spoke roles: the role name's prefix, the partition, and where the ExternalId is."""

    name_prefix: str = setting(NAME_PREFIX)
    partition: str = setting(AWS_PARTITION)
    external_id_secret_arn: str = setting(EXTERNAL_ID_SECRET_ARN)


@dataclass(frozen=True, kw_only=True)
class ValidateRunEnv(RecordsEnv):
    account_concurrency: int = setting(ACCOUNT_CONCURRENCY)
    region_concurrency: int = setting(REGION_CONCURRENCY)
    approval_required_waves: str = setting(APPROVAL_REQUIRED_WAVES)
    approvers: str = setting(APPROVERS)
    minimum_approvers: int = setting(MINIMUM_APPROVERS)
    maximum_approval_minutes: int = setting(MAXIMUM_APPROVAL_MINUTES)
    target_account_ids: str = setting(TARGET_ACCOUNT_IDS)


@dataclass(frozen=True, kw_only=True)
class DiscoverEnv(RecordsEnv, SpokeAccessEnv):
    pass


@dataclass(frozen=True, kw_only=True)
class SendCommandEnv(RecordsEnv, SpokeAccessEnv):
    artifact_bucket: str = setting(ARTIFACT_BUCKET)
    # Whether instances write Run Command output to the artifact bucket (the spoke's instance-output policy).
    instance_output: bool = setting(INSTANCE_OUTPUT)


@dataclass(frozen=True, kw_only=True)
class PollCommandEnv(RecordsEnv, SpokeAccessEnv):
    pass


@dataclass(frozen=True, kw_only=True)
class StoreSnapshotsEnv(SpokeAccessEnv):
    artifact_bucket: str = setting(ARTIFACT_BUCKET)
    snapshot_copy_workers: int = tuning(SNAPSHOT_COPY_WORKERS, 16)


@dataclass(frozen=True, kw_only=True)
class RecordTargetEnv(RecordsEnv, SpokeAccessEnv):
    pass


@dataclass(frozen=True, kw_only=True)
class EvaluateWaveEnv(RecordsEnv):
    pass


@dataclass(frozen=True, kw_only=True)
class FinalizeEnv(FunctionEnv):
    artifact_bucket: str = setting(ARTIFACT_BUCKET)
    topic_arn: str = setting(NOTIFICATION_TOPIC_ARN)


@dataclass(frozen=True, kw_only=True)
class RequestApprovalEnv(RecordsEnv):
    approval_topic_arn: str = setting(APPROVAL_TOPIC_ARN)
    approval_key_arn: str = setting(APPROVAL_KEY_ARN)
    approval_api_url: str = setting(APPROVAL_API_URL)
    # Checked again here: a wave (an invoke's event) cannot name approvers the deployer did not allow.
    approvers: str = setting(APPROVERS)
    minimum_approvers: int = setting(MINIMUM_APPROVERS)


@dataclass(frozen=True, kw_only=True)
class ApprovalLinkEnv(FunctionEnv):
    """The approval API's functions: they verify links with the signing key."""

    approval_key_arn: str = setting(APPROVAL_KEY_ARN)


@dataclass(frozen=True, kw_only=True)
class ApprovalPageEnv(ApprovalLinkEnv):
    pass


@dataclass(frozen=True, kw_only=True)
class ApprovalDecisionEnv(ApprovalLinkEnv):
    pass


@dataclass(frozen=True, kw_only=True)
class CancelRunEnv(SpokeAccessEnv):
    topic_arn: str = setting(NOTIFICATION_TOPIC_ARN)
    # Whose executions it may act on: an event naming any other, or one still running, cancels nothing.
    state_machine_arn: str = setting(PATCH_RUN_STATE_MACHINE_ARN)


@dataclass(frozen=True, kw_only=True)
class StartScheduledRunEnv(FunctionEnv):
    state_machine_arn: str = setting(PATCH_RUN_STATE_MACHINE_ARN)
    topic_arn: str = setting(NOTIFICATION_TOPIC_ARN)
