"""boto3 clients, created lazily and cached: hub clients per service, spoke clients per (run, account, region).

Spoke clients run on credentials from ``sts:AssumeRole`` into the spoke role, with the ExternalId and the run id
as SourceIdentity (so the spoke's CloudTrail names the run). Credentials are renewed before they expire.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from handlers.contract.conventions import spoke_role_arn
from handlers.contract.errors import SpokeAccessDenied, TransientAwsError

# Adaptive mode retries throttling with client-side rate limiting: the first line of defence against SSM/EC2
# throttling; what still fails surfaces as TransientAwsError and the state machine retries with backoff.
RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=5, read_timeout=30)
# For calls that must not be repeated blindly (SendCommand): one attempt, failures go back to the caller.
SINGLE_ATTEMPT_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30)
# The same for hub calls made while a person waits for an answer (SendTaskSuccess/Failure behind the approval API,
# whose functions have seconds, not minutes).
SINGLE_QUICK_ATTEMPT_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=3, read_timeout=5)
RENEW_BEFORE = timedelta(minutes=10)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def sts_name(text: str) -> str:
    """``text`` as STS accepts it for RoleSessionName/SourceIdentity: 2-64 characters of ``[\\w+=,.@-]``.

    Execution names may hold other characters; those become ``-`` (CloudTrail still shows the run).
    """
    cleaned = re.sub(r"[^\w+=,.@-]", "-", text)[:64]
    return cleaned if len(cleaned) >= 2 else f"{cleaned}--"[:2]


def is_transient(error: ClientError) -> bool:
    """Throttling and server-side failures: worth another attempt later."""
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in THROTTLING_CODES or status >= 500


@dataclass(frozen=True)
class _Assumed:
    credentials: dict[str, str]
    expires: datetime


class Clients:
    """The AWS clients a handler uses; pass a fake in unit tests, or use moto."""

    def __init__(
        self,
        *,
        name_prefix: str,
        partition: str,
        external_id: Callable[[], str],
        hub_region: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._name_prefix = name_prefix
        self._partition = partition
        self._external_id = external_id
        self._hub_region = hub_region
        self._clock = clock
        self._lock = threading.RLock()  # spoke() calls hub() while holding it
        self._hub_clients: dict[str, Any] = {}
        # One session for every client: each new boto3 Session would load the service models again.
        self._session: boto3.Session | None = None
        self._assumed: dict[tuple[str, str, str], _Assumed] = {}
        self._spoke_clients: dict[tuple[str, str, str, str], tuple[datetime, Any]] = {}

    def hub(self, service: str, *, retries: bool = True) -> Any:
        """A client for ``service`` in the hub account and region.

        ``retries=False``: one quick attempt per call, for operations that are not idempotent."""
        key = service if retries else f"{service}/single-attempt"
        with self._lock:
            if key not in self._hub_clients:
                config = RETRY_CONFIG if retries else SINGLE_QUICK_ATTEMPT_CONFIG
                self._hub_clients[key] = self._boto().client(service, region_name=self._hub_region, config=config)
            return self._hub_clients[key]

    def spoke(self, service: str, *, account_id: str, region: str, run_id: str, retries: bool = True) -> Any:
        """A client for ``service`` acting as the spoke role of ``account_id`` in ``region``.

        ``retries=False``: a single attempt per call, for operations that are not idempotent.
        """
        key = (run_id, account_id, region)
        with self._lock:
            assumed = self._assumed.get(key)
            if assumed is None or assumed.expires - RENEW_BEFORE <= self._clock():
                assumed = self._assume(account_id=account_id, region=region, run_id=run_id)
                self._assumed[key] = assumed
            client_key = (*key, service if retries else f"{service}/single-attempt")
            cached = self._spoke_clients.get(client_key)
            if cached is None or cached[0] != assumed.expires:
                config = RETRY_CONFIG if retries else SINGLE_ATTEMPT_CONFIG
                client = self._boto().client(service, region_name=region, config=config, **assumed.credentials)
                cached = (assumed.expires, client)
                self._spoke_clients[client_key] = cached
            return cached[1]

    def _boto(self) -> boto3.Session:
        if self._session is None:
            self._session = boto3.Session()
        return self._session

    def _assume(self, *, account_id: str, region: str, run_id: str) -> _Assumed:
        role_arn = spoke_role_arn(
            partition=self._partition, account_id=account_id, region=region, prefix=self._name_prefix
        )
        # The hub's regional STS endpoint: a patch run does not depend on us-east-1.
        sts = self.hub("sts")
        try:
            response = sts.assume_role(
                RoleArn=role_arn,
                RoleSessionName=sts_name(f"patch-{run_id}"),
                ExternalId=self._external_id(),
                SourceIdentity=sts_name(run_id),
                DurationSeconds=3600,
            )
        except ClientError as error:
            if is_transient(error):
                raise TransientAwsError(f"assume {role_arn}: {error}") from error
            raise SpokeAccessDenied(
                f"cannot assume {role_arn}: {error.response['Error'].get('Message', error)}"
            ) from None
        credentials = response["Credentials"]
        expires = credentials["Expiration"]
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
        return _Assumed(keys, expires)
