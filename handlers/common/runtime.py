"""What every handler shares at run time: its environment, its clients, the clock, and the Lambda entry point.

A handler module is ``handle(event, *, env, clients, now) -> dict`` (pure logic, testable with moto) plus
``lambda_handler = entry_point(handle)``. The entry point reads the environment once per container, creates
clients lazily, logs with the run id as correlation id, flushes EMF metrics, and turns throttling that
outlasted the SDK retries into ``TransientAwsError`` (which the state machine retries with backoff).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from handlers.common.aws import Clients, is_transient
from handlers.contract.errors import TransientAwsError

SERVICE = "patch-orchestrator"
METRICS_NAMESPACE = "PatchOrchestrator"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Env:
    """The Lambda environment variables, read once. Optional ones are empty when a function does not need them."""

    table_name: str
    name_prefix: str
    partition: str
    region: str
    retention_days: int
    external_id_secret_arn: str = ""
    artifact_bucket: str = ""
    topic_arn: str = ""
    account_concurrency: int = 10
    region_concurrency: int = 5
    instance_output: bool = False
    snapshot_copy_workers: int = 16
    approval_topic_arn: str = ""
    approval_key_arn: str = ""
    approval_api_url: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Env:
        """Read ``environ``; a missing required variable is a deployment bug and fails loudly."""
        try:
            return cls(
                table_name=environ["RUN_TABLE_NAME"],
                name_prefix=environ["NAME_PREFIX"],
                partition=environ.get("AWS_PARTITION", "aws"),
                region=environ["AWS_REGION"],
                retention_days=int(environ.get("RECORD_RETENTION_DAYS", "400")),
                external_id_secret_arn=environ.get("EXTERNAL_ID_SECRET_ARN", ""),
                artifact_bucket=environ.get("ARTIFACT_BUCKET", ""),
                topic_arn=environ.get("NOTIFICATION_TOPIC_ARN", ""),
                account_concurrency=int(environ.get("ACCOUNT_CONCURRENCY", "10")),
                region_concurrency=int(environ.get("REGION_CONCURRENCY", "5")),
                instance_output=environ.get("INSTANCE_OUTPUT", "false") == "true",
                snapshot_copy_workers=int(environ.get("SNAPSHOT_COPY_WORKERS", "16")),
                approval_topic_arn=environ.get("APPROVAL_TOPIC_ARN", ""),
                approval_key_arn=environ.get("APPROVAL_KEY_ARN", ""),
                approval_api_url=environ.get("APPROVAL_API_URL", ""),
            )
        except KeyError as missing:
            raise RuntimeError(f"environment variable {missing.args[0]} is not set") from None


def utcnow() -> datetime:
    """The clock handlers run on (tests replace it with a virtual clock)."""
    return datetime.now(UTC)


def make_clients(env: Env) -> Clients:
    """Clients for ``env``: the ExternalId is read from Secrets Manager on first spoke access, then kept."""

    @functools.cache
    def external_id() -> str:
        if not env.external_id_secret_arn:
            raise RuntimeError("EXTERNAL_ID_SECRET_ARN is not set for a function that assumes spoke roles")
        secret = clients.hub("secretsmanager").get_secret_value(SecretId=env.external_id_secret_arn)
        return str(secret["SecretString"])

    clients = Clients(
        name_prefix=env.name_prefix, partition=env.partition, external_id=external_id, hub_region=env.region
    )
    return clients


class Container:
    """Per-container cache of the environment and clients (rebuilt if the environment changes)."""

    def __init__(self) -> None:
        self.env: Env | None = None
        self.clients: Clients | None = None

    def reset(self) -> None:
        """Forget the environment and clients (tests that redeploy between runs)."""
        self.env, self.clients = None, None

    def get(self) -> tuple[Env, Clients]:
        env = Env.from_environ(os.environ)
        if env != self.env or self.clients is None:
            self.env, self.clients = env, make_clients(env)
        return env, self.clients


def entry_point(
    handle: Handler,
    *,
    correlation_id_path: str = "runId",
    answer_error: Callable[[Exception], dict[str, Any]] | None = None,
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The ``lambda_handler`` for ``handle``: logs correlated by ``correlation_id_path`` in the event.

    A failure is counted, then raised for the caller's Retry/Catch, or, with ``answer_error`` (a caller that needs
    a response, like API Gateway), answered with what it returns."""
    container = Container()

    @logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        env, clients = container.get()
        try:
            return handle(event, env=env, clients=clients, now=utcnow())
        except Exception as error:
            metrics.add_metric(name="HandlerErrors", unit=MetricUnit.Count, value=1)
            if answer_error is not None:
                return answer_error(error)
            # Logged by Powertools with the run id; the state machine's Retry/Catch see the error name.
            raise _classified(error) from error

    lambda_handler.container = container  # type: ignore[attr-defined]
    return lambda_handler


def _classified(error: Exception) -> Exception:
    """Throttling and connection failures that outlasted the SDK's retries become ``TransientAwsError``."""
    if isinstance(error, ClientError) and is_transient(error):
        return TransientAwsError(str(error))
    if isinstance(error, BotoConnectionError):
        return TransientAwsError(str(error))
    return error
