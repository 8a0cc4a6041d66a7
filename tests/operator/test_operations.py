"""An operator aborts, re-runs and follows approvals of rehearsed runs with patchctl; failures are one line."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from handlers.contract import conventions
from operator_cli import progress
from operator_cli.cli import cli
from rehearsal import approvals
from rehearsal.fleet import NEVER, Behaviour
from rehearsal.hub import HUB_REGION, Rehearsal
from tests.handlers.test_cancel_run import status_change
from tests.operator.conftest import STACK, Patchctl, publish_stack
from tests.operator.test_runs import CANARY, FLEET, REGION, document, partial_fleet


def wait_until(condition: object, *, timeout_seconds: float = 30) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def execution_status(hub: Rehearsal, run_id: str) -> str:
    client = boto3.client("stepfunctions", region_name=HUB_REGION)
    arn = f"{hub.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"
    return str(client.describe_execution(executionArn=arn)["status"])


def test_abort_stops_the_execution_and_shows_the_commands_cancel_run_cancelled(
    hub: Rehearsal, patchctl: Patchctl
) -> None:
    hub.fleet.add(CANARY, REGION, 2, patch=Behaviour(status=NEVER))
    hub.start(document(patchTimeoutMinutes=600), "stopped")
    wait_until(lambda: hub.fleet.sent(document=conventions.patch_document_name()))

    def eventbridge() -> None:  # what the run-stop rule delivers to CancelRun once the execution has stopped
        # moto records a stopped execution as FAILED; AWS records it ABORTED, which is what its event says.
        wait_until(lambda: execution_status(hub, "stopped") != "RUNNING")
        hub.declare_execution("stopped", "ABORTED")  # what CancelRun's DescribeExecution then hears, as on AWS
        hub.invoke("CancelRun", status_change("ABORTED", "stopped"))

    delivery = threading.Thread(target=eventbridge)
    delivery.start()
    result = patchctl("abort", "stopped", "--yes", "--interval", "0.02", "--wait", "30")
    delivery.join()

    assert result.exit_code == 0, result.stderr
    (command,) = hub.fleet.sent(document=conventions.patch_document_name())
    assert all(invocation.cancelled_at is not None for invocation in command.invocations.values())
    lines = result.stdout.splitlines()
    assert lines[0].startswith("stopped execution arn:aws:states:eu-west-1:123456789012:execution:")
    assert lines[1].startswith(f"cancelled patch command {command.command_id} in {CANARY}/{REGION} (wave 0) at ")
    assert lines[2] == "run stopped closed ABORTED (500): the execution ended ABORTED; 1 running command(s) cancelled"


def test_abort_of_a_finished_run_is_refused(hub: Rehearsal, patchctl: Patchctl) -> None:
    partial_fleet(hub)
    hub.run(document(), "done")

    result = patchctl("abort", "done", "--yes")

    assert (result.exit_code, result.stderr) == (1, "Error: run done is not running (SUCCEEDED): nothing to abort\n")


def test_rerun_starts_only_what_did_not_succeed(hub: Rehearsal, patchctl: Patchctl, tmp_path: Path) -> None:
    broken = partial_fleet(hub)
    hub.run(document(), "first")
    hub.fleet.instances[(FLEET, REGION)][-1].patch = Behaviour()  # fixed between the runs
    sent_before = len(hub.fleet.sent())
    saved = tmp_path / "rerun.json"

    assert patchctl("rerun", "first", "--output", str(saved)).exit_code == 0
    result = patchctl("rerun", "first", "--start", "--run-id", "first-again")

    assert json.loads(saved.read_text())["rerun"] == {"of": "first"}
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("started first-again: ")
    assert hub.wait(f"{hub.state_machine_arn.replace(':stateMachine:', ':execution:')}:first-again")["status"] == (
        "SUCCEEDED"
    )
    (again,) = hub.fleet.sent()[sent_before:]
    assert again.request["InstanceIds"] == [broken]


def test_approvals_show_who_was_asked_what_is_pending_and_who_decided(hub: Rehearsal, patchctl: Patchctl) -> None:
    hub.fleet.add(CANARY, REGION, 1)
    hub.subscribe_approver("ops@example.com")
    gate = {"required": True, "timeoutMinutes": 60, "approvers": ["ops@example.com", "lead@example.com"]}
    gated = document()
    gated["waves"][1]["approval"] = gate
    execution = hub.start(gated, "gated")
    (request,) = hub.wait_for_approval_requests(1)

    pending = patchctl("approvals", "gated")
    link = approvals.links(request["message"])["approve"]
    assert approvals.confirm(hub, link, source_ip="198.51.100.20")["statusCode"] == 200
    hub.wait(execution)
    decided = patchctl("approvals", "gated")

    assert pending.exit_code == 0, pending.stderr
    lines = pending.stdout.splitlines()
    assert lines[0] == "wave fleet: PENDING"
    assert lines[1] == "  asked: ops@example.com"
    assert lines[2] == "  not reachable (no confirmed subscription): lead@example.com"
    assert lines[4] == "  pending: waiting for one of ops@example.com"
    assert decided.stdout.splitlines()[0].startswith("wave fleet: APPROVED by ops@example.com at ")
    assert decided.stdout.splitlines()[0].endswith(" from 198.51.100.20")
    assert "pending" not in decided.stdout


def test_a_run_without_approvals_says_so(hub: Rehearsal, patchctl: Patchctl) -> None:
    hub.invoke("ValidateRun", {"runId": "plain", "executionId": "arn:execution:plain", "document": document()})

    assert patchctl("approvals", "plain").stdout == "run plain asks for no approval\n"


# Failures --------------------------------------------------------------------------------------------------------


def test_an_unknown_stack_run_or_output_is_one_line(hub: Rehearsal, patchctl: Patchctl) -> None:
    assert patchctl("runs", stack="nope").stderr == (
        "Error: no stack 'nope' in eu-west-1: pass the hub's stack name (--stack, PATCHCTL_STACK) and the region it "
        "is deployed in\n"
    )
    assert (
        patchctl("status", "never").stderr == "Error: no run 'never': the state machine has no execution of that name\n"
    )
    boto3.client("cloudformation", region_name=HUB_REGION).create_stack(
        StackName="other",
        TemplateBody=json.dumps({"Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}),
    )
    assert patchctl("runs", stack="other").stderr == (
        "Error: stack 'other' (CREATE_COMPLETE) has no output StateMachineArn, RunTableName, ArtifactBucketName: "
        "is it the hub stack, and deployed?\n"
    )


def test_the_region_comes_from_the_stack_arn_without_a_profile_region(
    hub: Rehearsal, patchctl: Patchctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack_id = boto3.client("cloudformation", region_name=HUB_REGION).describe_stacks(StackName=STACK)["Stacks"][0][
        "StackId"
    ]
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    assert patchctl("runs", stack="patch-orchestrator-hub").stderr == (
        "Error: no region: pass --region, set AWS_REGION or a profile region, or give the stack's ARN as --stack\n"
    )
    by_arn = patchctl("runs", stack=stack_id)
    assert (by_arn.exit_code, by_arn.stdout) == (0, "no runs\n")


def test_missing_credentials_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nowhere, had credentials been found

    result = CliRunner().invoke(cli, ["--stack", "hub", "runs"], prog_name="patchctl")

    assert (result.exit_code, result.stderr) == (
        1,
        "Error: no AWS credentials: configure a profile (--profile, AWS_PROFILE) or environment variables\n",
    )


def test_an_unknown_profile_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["--stack", "hub", "--profile", "nobody", "runs"], prog_name="patchctl")

    assert (result.exit_code, result.stderr) == (
        1,
        "Error: The config profile (nobody) could not be found (see ~/.aws/config)\n",
    )


def test_the_live_display_redraws_one_block_with_a_bar_per_wave_and_target(
    hub: Rehearsal, patchctl: Patchctl, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    partial_fleet(hub)
    hub.run(document(), "finished")
    monkeypatch.setattr("click.testing._NamedTextIOWrapper.isatty", lambda _self: True)

    result = patchctl("watch", "finished")

    assert result.exit_code == 3
    screen = result.stdout.splitlines()
    assert screen[0].startswith("run finished: PARTIAL (206), patched 4, failed 1, unreachable 0 of 5")
    assert screen[1] == f"[{'#' * 30}] wave canary: COMPLETED, targets 1/1, patched 2, failed 0, unreachable 0 of 2"
    assert screen[2] == f"  [{'#' * 28}] {CANARY}/{REGION}: COMPLETED (200), patched 2, failed 0, unreachable 0 of 2"


def test_a_half_done_target_fills_its_bar_by_the_instances_that_are_done() -> None:
    counts = progress.Counts(patched=1, failed=1, pending=2)
    target = progress.TargetProgress(FLEET, REGION, progress.RUNNING, counts)
    wave = progress.WaveProgress(0, "fleet", progress.RUNNING, 2, (target,))
    run = progress.RunProgress("r", "RUNNING", None, "", (wave,))

    screen = progress.screen(run, width=10)

    assert (
        screen[1] == "[#####.....] wave fleet: RUNNING, targets 1/2, patched 1, failed 1, unreachable 0, pending 2 of 4"
    )
    assert screen[2].startswith("  [####....] ")


def test_publish_stack_names_the_rehearsed_resources(hub: Rehearsal) -> None:
    stack_id = publish_stack(hub, "described")
    outputs = boto3.client("cloudformation", region_name=HUB_REGION).describe_stacks(StackName=stack_id)["Stacks"][0][
        "Outputs"
    ]
    assert {o["OutputKey"]: o["OutputValue"] for o in outputs}["RunTableName"] == hub.table_name
