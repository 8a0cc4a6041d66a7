"""The SSM fleet simulator behaves like SSM where the rehearsals depend on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from handlers.contract import conventions
from rehearsal.fleet import NEVER, Behaviour, Fleet, VirtualClock, _client

ACCOUNT = "222222222222"
REGION = "eu-west-1"
WRAPPER = conventions.patch_document_name()
PATCH = {
    "Operation": ["Install"],
    "RebootOption": ["NoReboot"],
    "SnapshotId": ["4b95ca39-fcc6-525c-a327-2cd6b91fab87"],
}
WEB = [{"Key": "tag:PatchGroup", "Values": ["web"]}]


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    with mock_aws():
        simulated = Fleet(VirtualClock())
        simulated.install(monkeypatch)
        yield simulated


def ssm(account: str = ACCOUNT) -> Any:
    return _client("ssm", account, REGION)


def test_tag_targets_reach_only_managed_matching_instances_of_that_account(fleet: Fleet) -> None:
    web = fleet.add(ACCOUNT, REGION, 2)
    fleet.add(ACCOUNT, REGION, 1, tags={"PatchGroup": "db"})
    fleet.add(ACCOUNT, REGION, 1, ping=None)
    fleet.add("333333333333", REGION, 2)

    command = ssm().send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH)["Command"]

    assert command["TargetCount"] == 2
    assert sorted(fleet.sent()[0].invocations) == sorted(web)


def test_commands_complete_on_the_virtual_clock(fleet: Fleet) -> None:
    fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(seconds=100))
    client = ssm()
    command_id = client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH)["Command"]["CommandId"]

    assert client.list_commands(CommandId=command_id)["Commands"][0]["Status"] == "InProgress"
    fleet.clock.advance(100)
    assert client.list_commands(CommandId=command_id)["Commands"][0]["Status"] == "Success"


def test_failures_timeouts_and_offline_agents_end_as_ssm_reports_them(fleet: Fleet) -> None:
    failed = fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status="Failed", response_code=1, seconds=10))[0]
    offline = fleet.add(ACCOUNT, REGION, 1, ping="ConnectionLost")[0]
    client = ssm()
    command_id = client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH, TimeoutSeconds=60)["Command"][
        "CommandId"
    ]
    fleet.clock.advance(60)

    invocations = client.list_command_invocations(CommandId=command_id, Details=True)["CommandInvocations"]
    statuses = {
        i["InstanceId"]: (i["Status"], i["StatusDetails"], i["CommandPlugins"][0]["ResponseCode"]) for i in invocations
    }

    assert statuses == {failed: ("Failed", "Failed", 1), offline: ("TimedOut", "DeliveryTimedOut", 0)}
    assert client.list_commands(CommandId=command_id)["Commands"][0]["Status"] == "Failed"


def test_invocations_are_paginated(fleet: Fleet) -> None:
    fleet.add(ACCOUNT, REGION, 120)
    client = ssm()
    command_id = client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH)["Command"]["CommandId"]

    first = client.list_command_invocations(CommandId=command_id)
    pages = list(client.get_paginator("list_command_invocations").paginate(CommandId=command_id))

    assert len(first["CommandInvocations"]) == 50
    assert "NextToken" in first
    assert [len(page["CommandInvocations"]) for page in pages] == [50, 50, 20]


def test_cancel_stops_what_is_still_running(fleet: Fleet) -> None:
    done = fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(seconds=10))[0]
    stuck = fleet.add(ACCOUNT, REGION, 1, patch=Behaviour(status=NEVER))[0]
    client = ssm()
    command_id = client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH)["Command"]["CommandId"]
    fleet.clock.advance(20)

    client.cancel_command(CommandId=command_id)

    statuses = {
        i["InstanceId"]: i["Status"]
        for i in client.list_command_invocations(CommandId=command_id)["CommandInvocations"]
    }
    assert statuses == {done: "Success", stuck: "Cancelled"}


def test_describe_instance_information_lists_managed_instances_with_pagination(fleet: Fleet) -> None:
    managed = fleet.add(ACCOUNT, REGION, 12, platform="Windows")
    fleet.add(ACCOUNT, REGION, 1, ping=None)
    client = ssm()

    pages = list(client.get_paginator("describe_instance_information").paginate())

    listed = [info for page in pages for info in page["InstanceInformationList"]]
    assert len(pages) == 2
    assert sorted(info["InstanceId"] for info in listed) == sorted(managed)
    assert {info["PlatformType"] for info in listed} == {"Windows"}


def test_only_the_spokes_documents_may_be_sent_and_aws_patching_document_is_denied(fleet: Fleet) -> None:
    fleet.add(ACCOUNT, REGION, 1)
    client = ssm()

    with pytest.raises(ClientError, match=r"AccessDenied.*ssm:SendCommand on document/AWS-RunPatchBaseline"):
        client.send_command(DocumentName="AWS-RunPatchBaseline", Targets=WEB, Parameters={"Operation": ["Install"]})
    with pytest.raises(ClientError, match=r"InvalidParameters.*'InstallOverrideList' is not declared"):
        client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH | {"InstallOverrideList": ["s3://x"]})
    with pytest.raises(ClientError, match=r"InvalidParameters.*RebootOption"):
        client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH | {"RebootOption": ["Always"]})
    with pytest.raises(ClientError, match=r"InvalidParameters.*SnapshotId"):
        client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH | {"SnapshotId": ["../../etc"]})
    with pytest.raises(ClientError, match=r"InvalidParameters.*'RebootOption' is required"):
        client.send_command(
            DocumentName=WRAPPER, Targets=WEB, Parameters={k: v for k, v in PATCH.items() if k != "RebootOption"}
        )
    attacker_baseline = {"BaselineOverride": ["s3://attacker/baseline.json"]}
    with pytest.raises(ClientError, match=r"InvalidParameters.*BaselineOverride"):
        client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH | attacker_baseline)
    with pytest.raises(ClientError, match=r"InvalidParameters.*declares no parameters"):
        client.send_command(DocumentName=fleet.snapshot_document, Targets=WEB, Parameters={"Commands": ["id"]})
    assert fleet.sent() == []
    fleet.baselines.add("s3://spoke-baselines/critical-only.json")
    own_baseline = {"BaselineOverride": ["s3://spoke-baselines/critical-only.json"]}
    client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH | own_baseline)
    client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH | {"BaselineOverride": [""]})
    assert len(fleet.sent()) == 2


def test_invalid_documents_parameters_and_unknown_commands_are_refused(fleet: Fleet) -> None:
    client = ssm()
    with pytest.raises(ClientError, match="InvalidDocument"):
        client.send_command(DocumentName="AWS-RunShellScript", Targets=WEB)
    with pytest.raises(ClientError, match="InvalidParameters"):
        client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH | {"Operation": ["Reboot"]})
    with pytest.raises(ClientError, match="InvalidCommandId"):
        client.list_commands(CommandId="8d3b2b4e-0000-0000-0000-000000000000")
    assert fleet.sent() == []


def test_throttling_can_be_injected_per_operation_and_account(fleet: Fleet) -> None:
    fleet.add(ACCOUNT, REGION, 1)
    fleet.throttle("send_command", times=1, account_id=ACCOUNT)
    client = ssm()

    command = client.send_command(DocumentName=WRAPPER, Targets=WEB, Parameters=PATCH)["Command"]

    assert command["TargetCount"] == 1  # the SDK retried the throttled call
    assert fleet.count("send_command") == 2
    assert len(fleet.sent()) == 1
