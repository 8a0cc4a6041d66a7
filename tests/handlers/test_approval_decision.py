"""ApprovalDecision (POST): a decision is recorded once, by an approver, and told to the waiting workflow; when
the workflow cannot be told, the approval says so and the same link can try again."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from handlers import approval_decision, request_approval
from handlers.approval_web import links
from handlers.approval_web.links import LinkClaims
from handlers.domain import approvals as approval_records
from handlers.runtime.observability import logger
from rehearsal import approvals
from rehearsal.approvals import Link
from rehearsal.hub import FakeLambdaContext
from tests.handlers.approval_backend import (
    API_URL,
    APPROVERS,
    NOW,
    RUN_ID,
    SETTINGS,
    Approvals,
    forged,
    page_text,
    wave,
)


def test_the_decision_route_never_answers_a_get(backend: Approvals) -> None:
    backend.request()
    link = backend.links()["approve"]
    event = approvals.api_event("GET", f"/approvals/{link.approval_id}", query=link.fields)

    response = approval_decision.lambda_handler(event, FakeLambdaContext("approval-decision"))

    assert response["statusCode"] == 404
    assert backend.approval(link.approval_id)["status"] == "PENDING"
    assert backend.execution()["status"] == "RUNNING"


def test_approving_records_who_from_where_and_tells_the_waiting_workflow_once(backend: Approvals) -> None:
    approval_id = backend.request()["approvalId"]
    link = backend.links()["approve"]

    response = approvals.confirm(backend.api, link, source_ip="198.51.100.20", user_agent="Firefox/140")

    assert response["statusCode"] == 200
    assert "Wave fleet approved" in page_text(response)
    approval = backend.approval(approval_id)
    assert approval["status"] == "DECIDED"
    assert (approval["decision"], approval["decidedBy"]) == ("APPROVED", APPROVERS[0])
    assert (approval["sourceIp"], approval["userAgent"]) == ("198.51.100.20", "Firefox/140")
    assert approval["decidedAt"] == "2026-12-08T09:05:00Z"
    assert "taskToken" not in approval  # it has done its one job
    execution = backend.settled_execution()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["decidedBy"] == APPROVERS[0]


def test_rejecting_fails_the_waiting_task_with_approval_rejected(backend: Approvals) -> None:
    backend.request()

    response = approvals.confirm(backend.api, backend.links(APPROVERS[1])["reject"])

    assert response["statusCode"] == 200
    assert "Wave fleet rejected" in page_text(response)
    execution = backend.settled_execution()
    assert execution["status"] == "FAILED"
    assert execution["error"] == "ApprovalRejected"


def test_a_replayed_or_contradicting_post_changes_nothing(backend: Approvals) -> None:
    approval_id = backend.request()["approvalId"]
    assert approvals.confirm(backend.api, backend.links()["approve"])["statusCode"] == 200

    replay = approvals.confirm(backend.api, backend.links()["approve"])
    contradiction = approvals.confirm(backend.api, backend.links(APPROVERS[1])["reject"], source_ip="192.0.2.66")

    for response in (replay, contradiction):
        assert response["statusCode"] == 409
        assert f"approved by {APPROVERS[0]}" in page_text(response)
    approval = backend.approval(approval_id)
    assert (approval["decision"], approval["decidedBy"], approval["sourceIp"]) == (
        "APPROVED",
        APPROVERS[0],
        "203.0.113.7",
    )
    assert backend.settled_execution()["status"] == "SUCCEEDED"
    assert approvals.open_link(backend.api, backend.links()["reject"])["statusCode"] == 409


def test_a_signed_link_for_someone_who_is_not_an_approver_cannot_decide(backend: Approvals) -> None:
    approval_id = backend.request()["approvalId"]
    claims = LinkClaims(approval_id, "approve", backend.approval(approval_id)["linkExpiresAt"], "intruder@example.com")
    signature = links.sign(backend.clients.kms(), backend.env.approval_key_arn, claims)

    response = approvals.confirm(backend.api, Link.parse(links.url(API_URL, claims, signature)))

    assert response["statusCode"] == 403
    assert backend.approval(approval_id)["status"] == "PENDING"


# When the workflow no longer waits, or cannot be told


def test_a_decision_the_workflow_no_longer_waits_for_is_not_applied(backend: Approvals) -> None:
    approval_id = backend.request(token="token-of-a-task-that-has-ended")["approvalId"]

    response = approvals.confirm(backend.api, backend.links()["approve"])

    assert response["statusCode"] == 410
    assert "already stopped waiting" in page_text(response)
    approval = backend.approval(approval_id)
    assert approval["status"] == "UNDELIVERED"
    assert "taskToken" not in approval
    assert approvals.confirm(backend.api, backend.links()["approve"])["statusCode"] == 410


def delivery_failing_with(error: Exception) -> Any:
    """A stand-in for ApprovalDecision's call to Step Functions that fails with ``error``."""

    def deliver(stepfunctions: Any, task_token: str, outcome: dict[str, Any]) -> None:
        raise error

    return deliver


def test_a_decision_that_cannot_be_delivered_leaves_the_approval_open_to_try_again(
    backend: Approvals, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval_id = backend.request()["approvalId"]
    link = backend.links()["approve"]
    original = approval_decision._deliver
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendTaskSuccess")
    monkeypatch.setattr(approval_decision, "_deliver", delivery_failing_with(throttled))
    response = approvals.confirm(backend.api, link)
    assert response["statusCode"] == 503
    approval = backend.approval(approval_id)
    assert approval["status"] == "PENDING"
    assert "decidedBy" not in approval

    monkeypatch.setattr(approval_decision, "_deliver", original)
    assert approvals.confirm(backend.api, link)["statusCode"] == 200
    assert backend.settled_execution()["status"] == "SUCCEEDED"


def test_an_unconfirmed_delivery_keeps_the_decision_and_the_same_link_sends_it_again(
    backend: Approvals, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval_id = backend.request()["approvalId"]
    link = backend.links()["approve"]
    original = approval_decision._deliver
    timed_out = ReadTimeoutError(endpoint_url="https://states.eu-west-1.amazonaws.com")
    monkeypatch.setattr(approval_decision, "_deliver", delivery_failing_with(timed_out))
    response = approvals.confirm(backend.api, link, source_ip="198.51.100.20")
    assert response["statusCode"] == 503
    assert "recorded, but not yet confirmed" in page_text(response)
    approval = backend.approval(approval_id)
    assert (approval["status"], approval["delivered"], approval["decidedBy"]) == ("DECIDED", False, APPROVERS[0])
    assert backend.execution()["status"] == "RUNNING"
    # Nobody else can decide meanwhile.
    assert approvals.confirm(backend.api, backend.links(APPROVERS[1])["reject"])["statusCode"] == 409

    # A second click at once is the same decision, already recorded: nothing is sent twice at the same time.
    assert approvals.confirm(backend.api, link)["statusCode"] == 409
    assert approvals.open_link(backend.api, link)["statusCode"] == 409
    # Once the first attempt has certainly ended, the approver's own link offers to send it again.
    backend.at(NOW + timedelta(minutes=5, seconds=approval_records.REDELIVERY_AFTER_SECONDS + 1))
    page = approvals.open_link(backend.api, link)
    assert page["statusCode"] == 200
    assert "Send again: approve wave fleet" in page_text(page)

    monkeypatch.setattr(approval_decision, "_deliver", original)
    again = approvals.confirm(backend.api, link, source_ip="192.0.2.99")
    assert again["statusCode"] == 200
    execution = backend.settled_execution()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["sourceIp"] == "198.51.100.20"  # the decision as first recorded
    assert backend.approval(approval_id)["delivered"] is True


def test_a_delivery_that_arrived_unconfirmed_is_not_reported_as_not_applied(
    backend: Approvals, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval_id = backend.request()["approvalId"]
    link = backend.links()["approve"]
    original = approval_decision._deliver

    def arrived_but_answer_lost(stepfunctions: Any, task_token: str, outcome: dict[str, Any]) -> None:
        original(stepfunctions, task_token, outcome)
        raise EndpointConnectionError(endpoint_url="https://states.eu-west-1.amazonaws.com")

    monkeypatch.setattr(approval_decision, "_deliver", arrived_but_answer_lost)
    assert approvals.confirm(backend.api, link)["statusCode"] == 503
    assert backend.settled_execution()["status"] == "SUCCEEDED"

    monkeypatch.setattr(approval_decision, "_deliver", original)
    backend.at(NOW + timedelta(minutes=5, seconds=approval_records.REDELIVERY_AFTER_SECONDS + 1))
    again = approvals.confirm(backend.api, link)

    assert again["statusCode"] == 409
    assert "If an earlier confirmation reached the workflow, it acted on it" in page_text(again)
    approval = backend.approval(approval_id)
    assert approval["delivered"] is None
    assert "taskToken" not in approval


# What must never be written down


def test_tokens_and_signatures_never_reach_the_logs(backend: Approvals, capsys: pytest.CaptureFixture[str]) -> None:
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    request_approval.lambda_handler(
        {"runId": RUN_ID, "wave": wave(APPROVERS), "settings": SETTINGS, "taskToken": backend.token},
        FakeLambdaContext("request-approval"),
    )
    links = backend.links()
    approvals.open_link(backend.api, links["approve"])
    approvals.open_link(backend.api, forged(links["approve"]))
    approvals.confirm(backend.api, links["reject"].with_fields(action="approve"))
    approvals.confirm(backend.api, links["approve"])
    approvals.confirm(backend.api, links["approve"])

    logger.removeHandler(handler)
    captured = capsys.readouterr()
    output = logs.getvalue() + captured.out + captured.err
    assert "approval decided" in output  # the logs are there...
    assert backend.token not in output  # ...without the token
    for link in links.values():
        assert link.fields["sig"] not in output
    assert API_URL not in output


# Several approvers


def test_a_wave_that_needs_two_approvers_waits_for_the_second_distinct_one(backend: Approvals) -> None:
    backend.allow(minimum=2)
    approval_id = backend.request()["approvalId"]

    first = approvals.confirm(backend.api, backend.links(APPROVERS[0])["approve"])
    again = approvals.confirm(backend.api, backend.links(APPROVERS[0])["approve"])

    assert first["statusCode"] == 200
    assert "Your approval of wave fleet is recorded" in page_text(first)
    assert f"1 of the 2 approvals the wave needs: {APPROVERS[0]}" in page_text(first)
    assert again["statusCode"] == 409
    assert "Your approval counts once" in page_text(again)
    pending = backend.approval(approval_id)
    assert (pending["status"], pending["approvedBy"]) == ("PENDING", [APPROVERS[0]])
    assert backend.execution()["status"] == "RUNNING"

    second = approvals.confirm(backend.api, backend.links(APPROVERS[1])["approve"])

    assert second["statusCode"] == 200
    assert "Wave fleet approved" in page_text(second)
    decided = backend.approval(approval_id)
    assert (decided["status"], decided["decidedBy"]) == ("DECIDED", APPROVERS[1])
    assert decided["approvedBy"] == sorted(APPROVERS)
    assert [vote["by"] for vote in decided["votes"]] == [APPROVERS[0], APPROVERS[1]]
    assert backend.settled_execution()["status"] == "SUCCEEDED"


def test_one_rejection_stops_a_wave_that_one_approver_already_approved(backend: Approvals) -> None:
    backend.allow(minimum=2)
    approval_id = backend.request()["approvalId"]
    approvals.confirm(backend.api, backend.links(APPROVERS[0])["approve"])

    response = approvals.confirm(backend.api, backend.links(APPROVERS[1])["reject"])

    assert "Wave fleet rejected" in page_text(response)
    assert backend.approval(approval_id)["decision"] == "REJECTED"
    assert backend.settled_execution()["error"] == "ApprovalRejected"


def test_a_user_agent_with_line_breaks_is_recorded_on_one_line(backend: Approvals) -> None:
    approval_id = backend.request()["approvalId"]

    approvals.confirm(backend.api, backend.links()["approve"], user_agent="Firefox/140\r\nX-Forged: yes")

    assert backend.approval(approval_id)["userAgent"] == "Firefox/140  X-Forged: yes"
