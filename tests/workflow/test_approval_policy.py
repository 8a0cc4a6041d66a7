"""The hub's approval policy rehearsed through the generated state machine: the deployer's parameters decide
which waves wait and how many approvers must agree, whatever the run document says."""

from __future__ import annotations

import boto3

from rehearsal import approvals
from rehearsal.hub import HUB_REGION, Rehearsal
from tests.workflow.test_approvals import (
    APPROVER,
    CANARY,
    FLEET,
    SECOND_APPROVER,
    deploy_fleet,
    gated_run,
    patched_accounts,
)
from tests.workflow.test_patch_run import document, wave


def unattended_run() -> dict[str, object]:
    """The review's run: no approval block anywhere, everything at once."""
    return document(
        wave("canary", [CANARY], ["eu-west-1"], maxConcurrency="100%", maxErrors="100%"),
        wave("fleet", [FLEET], ["eu-west-1", "us-east-1"], maxConcurrency="100%", maxErrors="100%"),
        pre_collect=False,
    )


def test_by_the_default_policy_a_run_without_approvals_still_waits_before_its_second_wave(hub: Rehearsal) -> None:
    deploy_fleet(hub)
    hub.set_setting("APPROVAL_REQUIRED_WAVES", "after-first")
    execution = hub.start(unattended_run(), "unattended-run")

    # Every approver of the hub (the document named none) who has a subscription.
    sent = hub.wait_for_approval_requests(2)
    assert {request["approver"] for request in sent} == {APPROVER, SECOND_APPROVER}
    assert patched_accounts(hub) == {CANARY}
    approvals.confirm(hub, approvals.links(sent[0]["message"])["approve"])

    assert hub.wait(execution)["status"] == "SUCCEEDED"
    assert patched_accounts(hub) == {CANARY, FLEET}


def test_a_run_that_waives_an_approval_the_policy_requires_is_refused_before_anything_is_touched(
    hub: Rehearsal,
) -> None:
    deploy_fleet(hub)
    hub.set_setting("APPROVAL_REQUIRED_WAVES", "all")
    run = unattended_run()
    run["waves"][0]["approval"] = {"required": False}  # type: ignore[index]

    result = hub.run(run, "waived-run")

    assert result["status"] == "FAILED"
    assert "waves[0].approval.required: false, but the hub requires approval of every wave" in result["cause"]
    assert patched_accounts(hub) == set()
    assert hub.approval_requests() == []


def test_a_wave_that_needs_two_approvers_is_patched_only_after_the_second(hub: Rehearsal) -> None:
    deploy_fleet(hub)
    hub.set_setting("MINIMUM_APPROVERS", "2")
    execution = hub.start(gated_run(), "two-approvers-run")

    sent = {request["approver"]: request for request in hub.wait_for_approval_requests(2)}
    first = approvals.confirm(hub, approvals.links(sent[APPROVER]["message"])["approve"])
    assert first["statusCode"] == 200, first["body"]
    assert "1 of the 2 approvals the wave needs" in first["body"]
    stepfunctions = boto3.client("stepfunctions", region_name=HUB_REGION)
    assert stepfunctions.describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert patched_accounts(hub) == {CANARY}

    second = approvals.confirm(hub, approvals.links(sent[SECOND_APPROVER]["message"])["approve"])
    assert second["statusCode"] == 200, second["body"]

    assert hub.wait(execution)["status"] == "SUCCEEDED"
    assert patched_accounts(hub) == {CANARY, FLEET}
    approval = hub.item("two-approvers-run", "WAVE#01")["approval"]  # type: ignore[index]
    assert approval["approvedBy"] == sorted([APPROVER, SECOND_APPROVER])
    assert approval["decidedBy"] == SECOND_APPROVER
