"""SendCommand sends at most one command per (run, wave, account, region, phase), whatever retries happen."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from handlers import send_command
from handlers.contract import conventions, table
from handlers.contract.errors import CommandLedgerBusy, CommandRejected, InvalidEvent, TransientAwsError
from rehearsal.hub import HUB_REGION, Rehearsal

ACCOUNT = "222222222222"
SETTINGS = {
    "operation": "Install",
    "rebootOption": "NoReboot",
    "snapshotId": "4b95ca39-fcc6-525c-a327-2cd6b91fab87",
    "selector": {"tags": {"PatchGroup": ["web"]}},
    "patchTimeoutMinutes": 60,
}


def event(**overrides: Any) -> dict[str, Any]:
    return {
        "runId": "run-1",
        "waveIndex": 0,
        "accountId": ACCOUNT,
        "region": "eu-west-1",
        "phase": "patch",
        "settings": SETTINGS,
        "wave": {"index": 0, "maxConcurrency": "5", "maxErrors": "1"},
    } | overrides


def ledger(hub: Rehearsal) -> dict[str, Any] | None:
    return hub.item("run-1", table.command_sk(0, ACCOUNT, "eu-west-1", "patch"))


def test_a_retry_reuses_the_ledgered_command(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, "eu-west-1", 2)

    first = hub.invoke("SendCommand", event())
    second = hub.invoke("SendCommand", event())

    assert first["commandId"] == second["commandId"]
    assert len(hub.fleet.sent()) == 1
    entry = ledger(hub)
    assert entry is not None
    assert (entry["status"], entry["commandId"]) == ("SENT", first["commandId"])
    assert first["deadline"] == "2026-12-08T10:00:00Z"  # reservation + patchTimeoutMinutes
    assert first["nextWaitSeconds"] == 600


def crash_once_in(hub: Rehearsal, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """Invoke SendCommand once with ``step`` dying the way a timed-out Lambda does."""

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise TimeoutError(f"Lambda timed out in {step}")

    with monkeypatch.context() as patched:
        patched.setattr(send_command, step, crash)
        with pytest.raises(TimeoutError):
            hub.invoke("SendCommand", event())


def test_a_crash_between_sending_and_recording_does_not_send_twice(
    hub: Rehearsal, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.fleet.add(ACCOUNT, "eu-west-1", 2)
    crash_once_in(hub, monkeypatch, "_complete")
    entry = ledger(hub)
    assert entry is not None
    assert "commandId" not in entry  # the ledger never learned the command id
    with pytest.raises(CommandLedgerBusy, match="another attempt holds the command ledger"):
        hub.invoke("SendCommand", event())  # too soon: the dead attempt's lease still runs
    hub.clock.advance(91)

    retried = hub.invoke("SendCommand", event())

    (sent,) = hub.fleet.sent()
    assert retried["commandId"] == sent.command_id
    assert sent.request["Comment"].endswith(f"#{entry['token']}")
    assert hub.fleet.count("send_command") == 1


def test_a_crash_before_sending_sends_on_retry(hub: Rehearsal, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.fleet.add(ACCOUNT, "eu-west-1", 1)
    crash_once_in(hub, monkeypatch, "_send")
    hub.clock.advance(91)

    retried = hub.invoke("SendCommand", event())

    (sent,) = hub.fleet.sent()
    assert retried["commandId"] == sent.command_id


def test_phases_and_waves_get_their_own_commands(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, "eu-west-1", 1)

    patch = hub.invoke("SendCommand", event())
    snapshot = hub.invoke("SendCommand", event(phase="snapshot"))
    other_wave = hub.invoke("SendCommand", event(waveIndex=1))

    assert len({patch["commandId"], snapshot["commandId"], other_wave["commandId"]}) == 3
    documents = [command.document for command in hub.fleet.sent()]
    assert documents == [
        conventions.PATCH_DOCUMENT_NAME,
        conventions.snapshot_document_name(),
        conventions.PATCH_DOCUMENT_NAME,
    ]
    snapshot_request = hub.fleet.sent()[1].request
    assert (snapshot_request["MaxConcurrency"], snapshot_request["MaxErrors"]) == ("100%", "100%")
    assert "Parameters" not in snapshot_request


def test_ssm_refusing_the_command_is_a_command_rejected_error(hub: Rehearsal) -> None:
    bad = event(settings=SETTINGS | {"operation": "Reinstall"})
    with pytest.raises(CommandRejected, match=r"AWS-RunPatchBaseline: Operation 'Reinstall' is not valid"):
        hub.invoke("SendCommand", bad)


def test_unknown_phase_and_missing_fields_are_refused(hub: Rehearsal) -> None:
    with pytest.raises(CommandRejected, match=r"event\.phase"):
        hub.invoke("SendCommand", event(phase="reboot"))
    with pytest.raises(InvalidEvent, match=r"event\.wave\.maxConcurrency: required"):
        hub.invoke("SendCommand", event(wave={"index": 0}))
    assert hub.fleet.sent() == []


def test_spoke_throttling_beyond_sdk_retries_is_a_transient_error(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, "eu-west-1", 1)
    hub.fleet.throttle("send_command", times=20)
    with pytest.raises(TransientAwsError):
        hub.invoke("SendCommand", event())
    assert hub.fleet.sent() == []
    assert boto3.client("dynamodb", region_name=HUB_REGION) is not None


def test_a_rerun_addresses_only_its_reachable_instances_by_id(hub: Rehearsal) -> None:
    reachable, offline = (
        hub.fleet.add(ACCOUNT, "eu-west-1", 1)[0],
        hub.fleet.add(ACCOUNT, "eu-west-1", 1, ping="ConnectionLost")[0],
    )
    hub.invoke("Discover", {**event(), "selector": SETTINGS["selector"]})

    hub.invoke("SendCommand", event(settings=SETTINGS | {"rerunOf": "earlier"}))

    (sent,) = hub.fleet.sent()
    assert sent.request["InstanceIds"] == [reachable]
    assert offline not in sent.request["InstanceIds"]
    assert "Targets" not in sent.request


def test_a_patch_command_carries_the_run_settings_and_the_wave_rollout(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, "eu-west-1", 1)

    hub.invoke("SendCommand", event())

    (sent,) = hub.fleet.sent()
    assert sent.request["Parameters"] == {
        "Operation": ["Install"],
        "RebootOption": ["NoReboot"],
        "SnapshotId": [SETTINGS["snapshotId"]],
    }
    assert (sent.request["MaxConcurrency"], sent.request["MaxErrors"]) == ("5", "1")
    assert sent.request["Targets"] == [{"Key": "tag:PatchGroup", "Values": ["web"]}]
    assert "OutputS3BucketName" not in sent.request  # the rehearsal's hub does not share instance output
