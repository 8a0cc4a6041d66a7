"""Clients: hub clients cached per service; spoke clients assumed with the ExternalId, cached per (run, account,
region), renewed before expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from handlers.contract.environment import DiscoverEnv
from handlers.domain.target import Target
from handlers.runtime.clients import FleetClients, SpokeAccess, fleet_clients, is_transient, sts_name

TARGET = Target("run-1", 0, "222222222222", "us-gov-east-1")


class FakeSts:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.expires = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)

    def assume_role(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        return {
            "Credentials": {
                "AccessKeyId": f"AKIA{len(self.calls)}",
                "SecretAccessKey": "secret",
                "SessionToken": "token",
                "Expiration": self.expires,
            }
        }


def clients_with(sts: FakeSts, now: list[datetime]) -> FleetClients:
    clients = FleetClients(
        region="us-gov-west-1",
        access=SpokeAccess(
            name_prefix="patch-orchestrator", partition="aws-us-gov", external_id=lambda: "the-external-id"
        ),
        clock=lambda: now[0],
    )
    clients._clients["sts"] = sts
    return clients


def test_spoke_clients_are_assumed_once_per_target_and_reused() -> None:
    sts, now = FakeSts(), [datetime(2026, 12, 8, 9, 0, tzinfo=UTC)]
    clients = clients_with(sts, now)

    first = clients.spoke(TARGET).ssm()
    again = clients.spoke(TARGET).ssm()
    clients.spoke(TARGET).ec2()
    clients.spoke(Target("run-1", 0, "333333333333", "us-gov-east-1")).ssm()

    assert first is again
    assert len(sts.calls) == 2
    assert sts.calls[0] == {
        "RoleArn": "arn:aws-us-gov:iam::222222222222:role/patch-orchestrator-spoke-us-gov-east-1",
        "RoleSessionName": "patch-run-1",
        "ExternalId": "the-external-id",
        "SourceIdentity": "run-1",
        "DurationSeconds": 3600,
    }
    assert first.meta.region_name == "us-gov-east-1"


def test_credentials_are_renewed_before_they_expire() -> None:
    sts, now = FakeSts(), [datetime(2026, 12, 8, 9, 0, tzinfo=UTC)]
    clients = clients_with(sts, now)
    first = clients.spoke(TARGET).ssm()

    now[0] = sts.expires - timedelta(minutes=5)
    sts.expires += timedelta(hours=1)
    renewed = clients.spoke(TARGET).ssm()

    assert renewed is not first
    assert len(sts.calls) == 2


def test_a_single_attempt_client_is_its_own_and_never_retries() -> None:
    sts, now = FakeSts(), [datetime(2026, 12, 8, 9, 0, tzinfo=UTC)]
    clients = clients_with(sts, now)

    single = clients.spoke(TARGET).ssm(retries=False)
    answering = clients.stepfunctions(retries=False)

    assert single is not clients.spoke(TARGET).ssm()
    assert single.meta.config.retries["total_max_attempts"] == 1
    assert answering is not clients.stepfunctions()
    assert answering.meta.config.retries["total_max_attempts"] == 1
    assert answering.meta.config.read_timeout == 5  # a person waits for the answer
    assert clients.dynamodb() is clients.dynamodb()
    assert clients.dynamodb().meta.region_name == "us-gov-west-1"


def test_the_external_id_is_read_from_its_secret_once_per_container() -> None:
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="eu-west-1")
        arn = secrets.create_secret(Name="external-id", SecretString="from-the-secret")["ARN"]
        env = DiscoverEnv(
            region="eu-west-1",
            table_name="runs",
            retention_days=30,
            name_prefix="patch-orchestrator",
            partition="aws",
            external_id_secret_arn=arn,
        )
        clients = fleet_clients(env)
        sts = FakeSts()
        clients._clients["sts"] = sts

        clients.spoke(TARGET).ssm()
        secrets.put_secret_value(SecretId=arn, SecretString="rotated")
        clients.spoke(Target("run-2", 0, "222222222222", "eu-west-1")).ssm()

    assert [call["ExternalId"] for call in sts.calls] == ["from-the-secret", "from-the-secret"]


def test_throttling_and_server_errors_are_transient_and_access_errors_are_not() -> None:
    def error(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")

    assert is_transient(error("ThrottlingException", 400))
    assert is_transient(error("RequestLimitExceeded", 400))
    assert is_transient(error("Whatever", 503))
    assert not is_transient(error("AccessDeniedException", 403))
    assert not is_transient(error("InvalidDocument", 400))


def test_run_ids_become_names_sts_accepts() -> None:
    assert sts_name("2026-12-patch-tuesday") == "2026-12-patch-tuesday"
    assert sts_name("run (retry) #2!") == "run--retry---2-"
    assert sts_name("x") == "x-"
    assert len(sts_name("r" * 80)) == 64
