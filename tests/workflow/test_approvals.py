"""Approvals rehearsed through the generated state machine: approve, reject, time out."""

from __future__ import annotations

import json
from typing import Any

import boto3

from handlers.contract import conventions
from rehearsal import approvals
from rehearsal.hub import HUB_REGION, Rehearsal, subscribe_approver
from tests.workflow.test_patch_run import document, wave

CANARY = "111111111111"
FLEET = "222222222222"
APPROVER = "ops@example.com"
SECOND_APPROVER = "lead@example.com"


def gated_run(timeout_minutes: int = 240) -> dict[str, Any]:
    """A canary wave without approval, then a fleet wave that needs one."""
    return document(
        wave("canary", [CANARY], ["eu-west-1"]),
        wave(
            "fleet",
            [FLEET],
            ["eu-west-1", "us-east-1"],
            approval={"required": True, "timeoutMinutes": timeout_minutes, "approvers": [APPROVER, SECOND_APPROVER]},
        ),
        pre_collect=False,
    )


def deploy_fleet(hub: Rehearsal) -> None:
    """The instances of ``gated_run`` and its approvers' subscriptions."""
    hub.fleet.add(CANARY, "eu-west-1", 1, tags={"PatchGroup": "web"})
    for region in ("eu-west-1", "us-east-1"):
        hub.fleet.add(FLEET, region, 2, tags={"PatchGroup": "web"})
    for approver in (APPROVER, SECOND_APPROVER):
        hub.subscribe_approver(approver)


def patched_accounts(hub: Rehearsal) -> set[str]:
    return {command.account_id for command in hub.fleet.sent(document=conventions.patch_document_name())}


def test_an_approved_wave_is_patched_and_the_approver_is_in_the_run_record_and_report(hub: Rehearsal) -> None:
    deploy_fleet(hub)
    execution = hub.start(gated_run(), "approved-run")

    sent = hub.wait_for_approval_requests(2)
    assert {request["approver"] for request in sent} == {APPROVER, SECOND_APPROVER}
    # Nothing of the gated wave has been touched while it waits.
    assert patched_accounts(hub) == {CANARY}
    mine = next(request for request in sent if request["approver"] == APPROVER)
    link = approvals.links(mine["message"])["approve"]
    assert approvals.open_link(hub, link)["statusCode"] == 200
    response = approvals.confirm(hub, link, source_ip="198.51.100.20", user_agent="Firefox/140")
    assert response["statusCode"] == 200, response["body"]

    result = hub.wait(execution)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert patched_accounts(hub) == {CANARY, FLEET}
    assert set(hub.approval_timeouts) == {240 * 60}  # moto reads the path more than once
    approval = hub.item("approved-run", "WAVE#01")["approval"]  # type: ignore[index]
    assert approval["status"] == "APPROVED"
    assert (approval["decidedBy"], approval["sourceIp"], approval["userAgent"]) == (
        APPROVER,
        "198.51.100.20",
        "Firefox/140",
    )
    wave_record = hub.item("approved-run", "WAVE#01")
    assert wave_record is not None
    assert wave_record["status"] == "COMPLETED"
    summary = json.loads(hub.s3_text("runs/approved-run/report/summary.json"))
    assert summary["waves"][0]["approval"] is None
    assert summary["waves"][1]["approval"]["status"] == "APPROVED"
    assert summary["waves"][1]["approval"]["decidedBy"] == APPROVER
    assert f"APPROVED by {APPROVER}" in hub.s3_text("runs/approved-run/report/report.html")


def test_rejected_approval_halts_later_waves(hub: Rehearsal) -> None:
    deploy_fleet(hub)
    run = gated_run()
    run["waves"].append(wave("last", ["333333333333"], ["eu-west-1"]))
    execution = hub.start(run, "rejected-run")

    request = hub.wait_for_approval_requests(2)[0]
    response = approvals.confirm(hub, approvals.links(request["message"])["reject"])
    assert response["statusCode"] == 200, response["body"]
    assert "rejected" in response["body"]

    result = hub.wait(execution)
    assert result["status"] == "FAILED"
    assert result["error"] == "RunHalted"
    assert patched_accounts(hub) == {CANARY}  # neither the rejected wave nor the one after it
    record = hub.item("rejected-run", "WAVE#01")
    assert record is not None
    assert record["status"] == "HALTED"
    assert record["approval"]["status"] == "REJECTED"
    assert record["approval"]["detail"].startswith(f"rejected by {request['approver']} at ")
    assert record["approval"]["detail"].endswith(" from 203.0.113.7")
    assert record["reason"] == f"wave fleet {record['approval']['detail']}"
    meta = hub.item("rejected-run", "META")
    assert meta is not None
    assert (meta["status"], meta["outcome"]) == ("HALTED", 500)
    assert meta["reason"] == record["reason"]
    assert hub.item("rejected-run", "WAVE#02") is None
    (subject, message) = hub.notifications()[-1]
    assert "HALTED" in subject
    assert f"approval: REJECTED (rejected by {request['approver']} at " in message


def test_an_approval_that_times_out_halts_the_run_and_its_links_stop_working(hub: Rehearsal) -> None:
    deploy_fleet(hub)
    hub.approval_wait_seconds = 3  # the wave's 5 minutes pass (in real time: long enough to send the emails)
    execution = hub.start(gated_run(timeout_minutes=5), "timed-out-run")

    request = hub.wait_for_approval_requests(2)[0]
    result = hub.wait(execution)

    assert result["status"] == "FAILED"
    assert set(hub.approval_timeouts) == {300}
    assert patched_accounts(hub) == {CANARY}
    record = hub.item("timed-out-run", "WAVE#01")
    assert record is not None
    assert (record["status"], record["approval"]["status"]) == ("HALTED", "TIMED_OUT")
    assert record["reason"] == "wave fleet was not approved within 5 minutes"
    meta = hub.item("timed-out-run", "META")
    assert meta is not None
    assert meta["status"] == "HALTED"
    assert "not approved within 5 minutes" in hub.notifications()[-1][1]

    # Clicking the link afterwards (still before its own expiry here) cannot revive the wave.
    response = approvals.confirm(hub, approvals.links(request["message"])["approve"])
    assert response["statusCode"] == 410
    assert "already stopped waiting" in response["body"]
    hub.clock.advance(301)
    assert approvals.open_link(hub, approvals.links(request["message"])["approve"])["statusCode"] == 410


def test_an_approvals_topic_others_could_read_stops_the_run_before_the_wave(hub: Rehearsal) -> None:
    deploy_fleet(hub)
    subscribe_approver(hub.approval_topic_arn, "team-list@example.com", filter_policy={})  # would get every link

    result = hub.run(gated_run(), "leaky-run")

    assert result["status"] == "FAILED"
    assert hub.approval_requests() == []
    assert patched_accounts(hub) == {CANARY}
    meta = hub.item("leaky-run", "META")
    assert meta is not None
    assert meta["status"] == "FAILED"
    assert meta["reason"].startswith("ApprovalChannelUnsafe: approvals topic subscription ")


def test_an_answer_that_is_not_a_recorded_approval_never_patches_the_wave(hub: Rehearsal) -> None:
    deploy_fleet(hub)
    execution = hub.start(gated_run(), "forged-answer-run")
    hub.wait_for_approval_requests(2)
    (approval,) = [
        item
        for item in boto3.client("dynamodb", region_name=HUB_REGION).scan(TableName=hub.table_name)["Items"]
        if item["pk"]["S"].startswith("APPROVAL#")
    ]

    # Someone with the token (it is in the execution history) and states:SendTaskSuccess answers directly.
    boto3.client("stepfunctions", region_name=HUB_REGION).send_task_success(
        taskToken=approval["taskToken"]["S"], output=json.dumps({"decision": "APPROVED"})
    )
    result = hub.wait(execution)

    assert result["status"] == "FAILED"
    assert patched_accounts(hub) == {CANARY}
    meta = hub.item("forged-answer-run", "META")
    assert meta is not None
    assert meta["reason"].startswith("ApprovalMalformed: ")
    assert hub.item("forged-answer-run", "WAVE#01")["approval"]["status"] == "PENDING"  # type: ignore[index]


def test_a_forged_complete_approval_read_from_the_execution_history_halts_the_wave(hub: Rehearsal) -> None:
    deploy_fleet(hub)
    execution = hub.start(gated_run(), "forged-history-run")
    hub.wait_for_approval_requests(2)
    # What a principal with ReadOnlyAccess sees: the task token, in RequestApproval's TaskScheduled event.
    scheduled = next(
        json.loads(event["taskScheduledEventDetails"]["parameters"])
        for event in hub.history(execution)
        if event["type"] == "TaskScheduled" and "waitForTaskToken" in event["taskScheduledEventDetails"]["resource"]
    )
    token = scheduled["Payload"]["taskToken"]
    wave_record = hub.item("forged-history-run", "WAVE#01")
    assert wave_record is not None
    approval_id = wave_record["approval"]["approvalId"]
    forged = {
        "approvalId": approval_id,
        "decision": "APPROVED",
        "decidedBy": APPROVER,
        "decidedAt": "2026-12-08T09:30:00Z",
        "sourceIp": "198.51.100.20",
        "userAgent": "Firefox/140",
    }

    # ... and one who may also call states:SendTaskSuccess (PowerUserAccess may) answers with a perfect decision.
    boto3.client("stepfunctions", region_name=HUB_REGION).send_task_success(taskToken=token, output=json.dumps(forged))
    result = hub.wait(execution)

    assert result["status"] == "FAILED"
    assert patched_accounts(hub) == {CANARY}
    meta = hub.item("forged-history-run", "META")
    assert meta is not None
    assert meta["reason"].startswith("ApprovalMalformed: ")
    assert f"approval {approval_id} holds no approving decision" in meta["reason"]
    assert hub.item("forged-history-run", "WAVE#01")["approval"]["status"] == "PENDING"  # type: ignore[index]
