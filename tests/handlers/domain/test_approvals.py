"""Approval records: when a recorded decision may be sent again, and how it reads to the workflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.domain import approvals
from handlers.records.items import ApprovalRecord

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
RECORDED: ApprovalRecord = {
    "pk": "APPROVAL#x",
    "sk": "META",
    "approvalId": "x",
    "status": "DECIDED",
    "delivered": False,
    "decision": "APPROVED",
    "decidedBy": "ops@example.com",
    "decidedAt": "2026-12-08T09:00:00Z",
    "sourceIp": "203.0.113.7",
    "userAgent": "Firefox/140",
    "approvedBy": ["ops@example.com"],
}
LATER = NOW + timedelta(seconds=approvals.REDELIVERY_AFTER_SECONDS)


def test_a_recorded_decision_awaits_delivery_only_for_its_approver_once_the_first_attempt_is_over() -> None:
    assert approvals.awaits_delivery(RECORDED, "ops@example.com", "APPROVED", LATER)
    assert not approvals.awaits_delivery(RECORDED, "ops@example.com", "APPROVED", LATER - timedelta(seconds=1))
    assert not approvals.awaits_delivery(RECORDED, "lead@example.com", "APPROVED", LATER)
    assert not approvals.awaits_delivery(RECORDED, "ops@example.com", "REJECTED", LATER)
    assert not approvals.awaits_delivery(RECORDED | {"delivered": None}, "ops@example.com", "APPROVED", LATER)
    assert not approvals.awaits_delivery(RECORDED | {"status": "PENDING"}, "ops@example.com", "APPROVED", LATER)
    assert not approvals.awaits_delivery(None, "ops@example.com", "APPROVED", LATER)


def test_the_decision_reaches_the_workflow_without_the_token_and_a_rejection_in_words() -> None:
    record = approvals.decision_record(RECORDED | {"taskToken": "secret"})

    assert record == {
        "approvalId": "x",
        "decision": "APPROVED",
        "decidedBy": "ops@example.com",
        "decidedAt": "2026-12-08T09:00:00Z",
        "sourceIp": "203.0.113.7",
        "userAgent": "Firefox/140",
        "approvedBy": ["ops@example.com"],
    }
    assert approvals.rejection_text(record) == "rejected by ops@example.com at 2026-12-08T09:00:00Z from 203.0.113.7"


def test_a_task_token_is_identified_by_its_digest() -> None:
    assert approvals.token_digest("token") == approvals.token_digest("token") != approvals.token_digest("other")
    assert "token" not in approvals.token_digest("token")


def test_a_user_agent_is_recorded_without_control_characters_and_at_most_its_length() -> None:
    forged = "Firefox/140\r\nX-Approved-By: lead@example.com\x00" + "x" * 600
    cleaned = approvals.clean_user_agent(forged)
    assert cleaned.startswith("Firefox/140  X-Approved-By: lead@example.com ")
    assert all(character.isprintable() for character in cleaned)
    assert len(cleaned) == approvals.USER_AGENT_LENGTH
