"""Spoke clients: assumed with the ExternalId, cached per (run, account, region), renewed before expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from handlers.common.aws import Clients, is_transient, sts_name


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


def clients_with(sts: FakeSts, now: list[datetime]) -> Clients:
    clients = Clients(
        name_prefix="patch-orchestrator",
        partition="aws-us-gov",
        external_id=lambda: "the-external-id",
        hub_region="us-gov-west-1",
        clock=lambda: now[0],
    )
    clients._hub_clients["sts"] = sts
    return clients


def test_spoke_clients_are_assumed_once_per_target_and_reused() -> None:
    sts, now = FakeSts(), [datetime(2026, 12, 8, 9, 0, tzinfo=UTC)]
    clients = clients_with(sts, now)

    first = clients.spoke("ssm", account_id="222222222222", region="us-gov-east-1", run_id="run-1")
    again = clients.spoke("ssm", account_id="222222222222", region="us-gov-east-1", run_id="run-1")
    clients.spoke("ec2", account_id="222222222222", region="us-gov-east-1", run_id="run-1")
    clients.spoke("ssm", account_id="333333333333", region="us-gov-east-1", run_id="run-1")

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
    first = clients.spoke("ssm", account_id="222222222222", region="us-gov-east-1", run_id="run-1")

    now[0] = sts.expires - timedelta(minutes=5)
    sts.expires += timedelta(hours=1)
    renewed = clients.spoke("ssm", account_id="222222222222", region="us-gov-east-1", run_id="run-1")

    assert renewed is not first
    assert len(sts.calls) == 2


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
