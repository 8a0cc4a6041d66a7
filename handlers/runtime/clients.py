"""boto3 clients, created lazily and cached: hub clients per service, spoke clients per (run, account, region).

``HubClients`` serve every function in the hub account; ``FleetClients`` add the spoke: clients running on
credentials from ``sts:AssumeRole`` into the spoke role, with the ExternalId and the run id as SourceIdentity (so
the spoke's CloudTrail names the run). Credentials are renewed before they expire. The accessors are typed with
the boto3 stubs (a type-checking dependency only; the Lambda runtime provides boto3 itself).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from handlers.contract.conventions import spoke_role_arn
from handlers.contract.environment import FunctionEnv, SpokeAccessEnv
from handlers.contract.errors import SpokeAccessDenied, TransientAwsError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient

T = TypeVar("T")

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


def _config(retries: bool, *, quick: bool) -> Config:
    # Read at call time, so a test can replace the retry configuration before clients are made.
    if retries:
        return RETRY_CONFIG
    return SINGLE_QUICK_ATTEMPT_CONFIG if quick else SINGLE_ATTEMPT_CONFIG


class HubClients:
    """The clients a function uses in the hub account and region; pass fakes in unit tests, or use moto."""

    def __init__(self, *, region: str | None) -> None:
        self.region = region
        self._lock = threading.RLock()  # FleetClients.spoke() calls hub clients while holding it
        self._clients: dict[str, object] = {}
        # One session for every client: each new boto3 Session would load the service models again.
        self._session: boto3.Session | None = None

    def dynamodb(self) -> DynamoDBClient:
        return self._hub(
            "dynamodb", lambda boto, config: boto.client("dynamodb", region_name=self.region, config=config)
        )

    def s3(self) -> S3Client:
        return self._hub("s3", lambda boto, config: boto.client("s3", region_name=self.region, config=config))

    def sns(self) -> SNSClient:
        return self._hub("sns", lambda boto, config: boto.client("sns", region_name=self.region, config=config))

    def kms(self) -> KMSClient:
        return self._hub("kms", lambda boto, config: boto.client("kms", region_name=self.region, config=config))

    def secretsmanager(self) -> SecretsManagerClient:
        return self._hub(
            "secretsmanager", lambda boto, config: boto.client("secretsmanager", region_name=self.region, config=config)
        )

    def sts(self) -> STSClient:
        # The hub's regional STS endpoint: a patch run does not depend on us-east-1.
        return self._hub("sts", lambda boto, config: boto.client("sts", region_name=self.region, config=config))

    def stepfunctions(self, *, retries: bool = True) -> SFNClient:
        """``retries=False``: one quick attempt per call, for answers that must not be repeated blindly."""
        return self._hub(
            "stepfunctions",
            lambda boto, config: boto.client("stepfunctions", region_name=self.region, config=config),
            retries=retries,
        )

    def _hub(self, service: str, create: Callable[[boto3.Session, Config], T], *, retries: bool = True) -> T:
        key = service if retries else f"{service}/single-attempt"
        with self._lock:
            if key not in self._clients:
                self._clients[key] = create(self._boto(), _config(retries, quick=True))
            return cast(T, self._clients[key])

    def _boto(self) -> boto3.Session:
        with self._lock:
            if self._session is None:
                self._session = boto3.Session()
            return self._session


class SpokeTarget(Protocol):
    """Where spoke clients act: one account and region, on behalf of one run."""

    @property
    def run_id(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    @property
    def region(self) -> str: ...


@dataclass(frozen=True)
class SpokeAccess:
    """How the hub reaches a spoke: the spoke role's name prefix, the partition, and the ExternalId (read lazily)."""

    name_prefix: str
    partition: str
    external_id: Callable[[], str]


@dataclass(frozen=True)
class _Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires: datetime


class FleetClients(HubClients):
    """Hub clients, and clients in any spoke account and region through its spoke role."""

    def __init__(
        self, *, region: str | None, access: SpokeAccess, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        super().__init__(region=region)
        self._access = access
        self._clock = clock
        self._assumed: dict[tuple[str, str, str], _Credentials] = {}
        self._spoke_clients: dict[tuple[str, str, str, str], tuple[datetime, object]] = {}

    def spoke(self, target: SpokeTarget) -> SpokeClients:
        """Clients acting as the spoke role of ``target``'s account in its region."""
        return SpokeClients(self, target.run_id, target.account_id, target.region)

    def _spoke(self, where: SpokeClients, key: str, create: Callable[[_Credentials], T]) -> T:
        scope = (where.run_id, where.account_id, where.region)
        with self._lock:
            assumed = self._assumed.get(scope)
            if assumed is None or assumed.expires - RENEW_BEFORE <= self._clock():
                assumed = self._assume(where)
                self._assumed[scope] = assumed
            cached = self._spoke_clients.get((*scope, key))
            if cached is None or cached[0] != assumed.expires:
                cached = (assumed.expires, create(assumed))
                self._spoke_clients[(*scope, key)] = cached
            return cast(T, cached[1])

    def _assume(self, where: SpokeClients) -> _Credentials:
        access = self._access
        role_arn = spoke_role_arn(
            partition=access.partition, account_id=where.account_id, region=where.region, prefix=access.name_prefix
        )
        try:
            response = self.sts().assume_role(
                RoleArn=role_arn,
                RoleSessionName=sts_name(f"patch-{where.run_id}"),
                ExternalId=access.external_id(),
                SourceIdentity=sts_name(where.run_id),
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
        return _Credentials(
            credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"], expires
        )


@dataclass(frozen=True)
class SpokeClients:
    """The clients of one spoke account and region (through its spoke role), for one run."""

    fleet: FleetClients
    run_id: str
    account_id: str
    region: str

    def ssm(self, *, retries: bool = True) -> SSMClient:
        """``retries=False``: a single attempt per call, for operations that are not idempotent (SendCommand)."""
        key = "ssm" if retries else "ssm/single-attempt"
        return self.fleet._spoke(
            self,
            key,
            lambda credentials: self.fleet._boto().client(
                "ssm",
                region_name=self.region,
                config=_config(retries, quick=False),
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
            ),
        )

    def ec2(self) -> EC2Client:
        return self.fleet._spoke(
            self,
            "ec2",
            lambda credentials: self.fleet._boto().client(
                "ec2",
                region_name=self.region,
                config=_config(True, quick=False),
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
            ),
        )


def hub_clients(env: FunctionEnv) -> HubClients:
    """Clients for a function that works in the hub only."""
    return HubClients(region=env.region)


def fleet_clients(env: SpokeAccessEnv) -> FleetClients:
    """Clients for a function that works in spokes: the ExternalId is read from Secrets Manager on first spoke
    access, then kept for the container's life."""
    clients: FleetClients

    @functools.cache
    def external_id() -> str:
        return clients.secretsmanager().get_secret_value(SecretId=env.external_id_secret_arn)["SecretString"]

    clients = FleetClients(region=env.region, access=SpokeAccess(env.name_prefix, env.partition, external_id))
    return clients
