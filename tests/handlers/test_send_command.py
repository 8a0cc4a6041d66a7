"""SendCommand sends at most one command per (run, wave, account, region, phase), whatever retries happen, and
only what the run's stored plan says."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from handlers import send_command
from handlers.contract import conventions, run_document, table
from handlers.contract.errors import CommandLedgerBusy, CommandRejected, InvalidEvent, TransientAwsError
from rehearsal.hub import HUB_REGION, Rehearsal
from tests.handlers.targets import ACCOUNT, DOCUMENT, REGION, SELECTOR, record_run, run_table, send, target

OTHER_ACCOUNT = "444444444444"


def event(hub: Rehearsal, **overrides: Any) -> dict[str, Any]:
    return {**target(hub), "phase": "patch"} | overrides


def ledger(hub: Rehearsal) -> dict[str, Any] | None:
    return hub.item("run-1", table.command_sk(0, ACCOUNT, REGION, "patch"))


def test_a_retry_reuses_the_ledgered_command(hub: Rehearsal) -> None:
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 2)

    first = send(hub)
    second = send(hub)

    assert first["commandId"] == second["commandId"]
    assert len(hub.fleet.sent()) == 1
    entry = ledger(hub)
    assert entry is not None
    assert (entry["status"], entry["commandId"]) == ("SENT", first["commandId"])
    assert first["deadline"] == "2026-12-08T09:30:00Z"  # reservation + the plan's patchTimeoutMinutes
    assert first["nextWaitSeconds"] == 600


def crash_once_in(hub: Rehearsal, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """Invoke SendCommand once with ``step`` dying the way a timed-out Lambda does."""

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise TimeoutError(f"Lambda timed out in {step}")

    with monkeypatch.context() as patched:
        patched.setattr(send_command, step, crash)
        with pytest.raises(TimeoutError):
            send(hub)


def test_a_crash_between_sending_and_recording_does_not_send_twice(
    hub: Rehearsal, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 2)
    crash_once_in(hub, monkeypatch, "_complete")
    entry = ledger(hub)
    assert entry is not None
    assert "commandId" not in entry  # the ledger never learned the command id
    with pytest.raises(CommandLedgerBusy, match="another attempt holds the command ledger"):
        send(hub)  # too soon: the dead attempt's lease still runs
    hub.clock.advance(91)

    retried = send(hub)

    (sent,) = hub.fleet.sent()
    assert retried["commandId"] == sent.command_id
    assert sent.request["Comment"].endswith(f"#{entry['token']}")
    assert hub.fleet.count("send_command") == 1


def test_a_crash_before_sending_sends_on_retry(hub: Rehearsal, monkeypatch: pytest.MonkeyPatch) -> None:
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 1)
    crash_once_in(hub, monkeypatch, "_send")
    hub.clock.advance(91)

    retried = send(hub)

    (sent,) = hub.fleet.sent()
    assert retried["commandId"] == sent.command_id


def test_phases_and_waves_get_their_own_commands(hub: Rehearsal) -> None:
    second = {"name": "second", "targets": [{"accounts": [OTHER_ACCOUNT], "regions": [REGION]}]}
    record_run(hub, DOCUMENT | {"waves": [*DOCUMENT["waves"], second]})
    hub.fleet.add(ACCOUNT, REGION, 1)
    hub.fleet.add(OTHER_ACCOUNT, REGION, 1)

    patch = send(hub)
    snapshot = send(hub, "snapshot")
    other_wave = hub.invoke("SendCommand", {**target(hub, wave_index=1, account_id=OTHER_ACCOUNT), "phase": "patch"})

    assert len({patch["commandId"], snapshot["commandId"], other_wave["commandId"]}) == 3
    documents = [command.document for command in hub.fleet.sent()]
    assert documents == [
        conventions.patch_document_name(),
        conventions.snapshot_document_name(),
        conventions.patch_document_name(),
    ]
    snapshot_request = hub.fleet.sent()[1].request
    assert (snapshot_request["MaxConcurrency"], snapshot_request["MaxErrors"]) == ("100%", "100%")
    assert "Parameters" not in snapshot_request


def test_ssm_refusing_the_command_is_a_command_rejected_error(hub: Rehearsal) -> None:
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 1)
    hub.fleet.patch_document = "an-older-spoke-without-the-wrapper"

    with pytest.raises(CommandRejected, match=r"^patch-orchestrator-RunPatchBaseline: Document .* does not exist"):
        send(hub)


def test_unknown_phase_and_missing_fields_are_refused(hub: Rehearsal) -> None:
    record_run(hub)
    with pytest.raises(CommandRejected, match=r"event\.phase"):
        hub.invoke("SendCommand", event(hub, phase="reboot"))
    with pytest.raises(InvalidEvent, match=r"event\.executionId: required"):
        hub.invoke("SendCommand", {key: value for key, value in event(hub).items() if key != "executionId"})
    assert hub.fleet.sent() == []


def test_spoke_throttling_beyond_sdk_retries_is_a_transient_error(hub: Rehearsal) -> None:
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 1)
    hub.fleet.throttle("send_command", times=20)
    with pytest.raises(TransientAwsError):
        send(hub)
    assert hub.fleet.sent() == []
    assert boto3.client("dynamodb", region_name=HUB_REGION) is not None


def test_a_rerun_addresses_only_its_reachable_instances_by_id(hub: Rehearsal) -> None:
    record_run(hub, run_id="earlier")
    hub.invoke("Finalize", {"runId": "earlier", "halt": {}})
    reachable, offline = (
        hub.fleet.add(ACCOUNT, REGION, 1)[0],
        hub.fleet.add(ACCOUNT, REGION, 1, ping="ConnectionLost")[0],
    )
    record_run(hub, DOCUMENT | {"rerun": {"of": "earlier"}})
    run_table(hub).record_rerun_selection("run-1", "earlier", {(ACCOUNT, REGION): [reachable, offline]}, expires_at=1)
    hub.invoke("Discover", target(hub))

    send(hub)

    (sent,) = hub.fleet.sent()
    assert sent.request["InstanceIds"] == [reachable]
    assert offline not in sent.request["InstanceIds"]
    assert "Targets" not in sent.request


def test_a_patch_command_is_the_spokes_wrapper_with_the_plans_settings_whatever_the_event_says(
    hub: Rehearsal,
) -> None:
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 1)
    forged = {
        "settings": {"operation": "Install", "rebootOption": "RebootIfNeeded", "selector": {"tags": {"Name": ["*"]}}},
        "wave": {"maxConcurrency": "100%", "maxErrors": "100%"},
        "document": conventions.AWS_PATCH_DOCUMENT_NAME,
    }

    send(hub, **forged)

    (sent,) = hub.fleet.sent()
    assert sent.document == conventions.patch_document_name()
    assert sent.request["Parameters"] == {
        conventions.PATCH_OPERATION_PARAMETER: ["Install"],
        conventions.PATCH_REBOOT_OPTION_PARAMETER: ["NoReboot"],
        conventions.PATCH_SNAPSHOT_ID_PARAMETER: [run_document.snapshot_id("run-1")],
    }
    assert (sent.request["MaxConcurrency"], sent.request["MaxErrors"]) == ("10%", "0")
    assert sent.request["Targets"] == [{"Key": "tag:PatchGroup", "Values": SELECTOR["tags"]["PatchGroup"]}]
    assert "OutputS3BucketName" not in sent.request  # the rehearsal's hub does not share instance output


def test_instance_output_goes_under_the_writers_account_first(hub: Rehearsal) -> None:
    record_run(hub)
    instance_id = hub.fleet.add(ACCOUNT, REGION, 1)[0]
    hub.set_setting("INSTANCE_OUTPUT", "true")

    send(hub)

    (sent,) = hub.fleet.sent()
    prefix = f"ssm/account-{ACCOUNT}/runs/run-1/region-{REGION}/patch"
    assert sent.request["OutputS3KeyPrefix"] == prefix
    assert hub.s3_keys(f"ssm/account-{ACCOUNT}/") == [f"{prefix}/{sent.command_id}/{instance_id}/PatchLinux/stdout"]


def test_a_patch_commands_delivery_timeout_lasts_until_its_deadline(hub: Rehearsal) -> None:
    """SSM counts TimeoutSeconds from the send: an instance still queued behind MaxConcurrency must not time out
    untried (and be reported unreachable) before the command's own deadline."""
    record_run(hub)
    hub.fleet.add(ACCOUNT, REGION, 2)

    send(hub)

    (sent,) = hub.fleet.sent()
    assert sent.request["TimeoutSeconds"] == DOCUMENT["patchTimeoutMinutes"] * 60


def test_a_target_too_large_to_patch_by_its_deadline_is_refused_before_anything_is_sent(hub: Rehearsal) -> None:
    """A count MaxConcurrency can only be judged once Discover knows the target's instances."""
    record_run(hub, DOCUMENT | {"waves": [DOCUMENT["waves"][0] | {"maxConcurrency": "1"}]})
    hub.fleet.add(ACCOUNT, REGION, 40)
    hub.invoke("Discover", target(hub))

    with pytest.raises(CommandRejected, match=r"maxConcurrency 1: .*40 .* over the 30-minute patchTimeoutMinutes"):
        send(hub)
    assert hub.fleet.sent() == []
