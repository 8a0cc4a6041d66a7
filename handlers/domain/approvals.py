"""Approval records: the server-side half of an approval link.

``APPROVAL#<id>`` / ``META`` holds the task token (which never leaves the hub), the run and wave, what the wave
will patch (for the confirmation page), the link expiry and, once decided, the decision and who made it from
where. It moves PENDING -> DECIDED exactly once (a conditional update). ``delivered`` then says whether the
workflow heard it: true (token removed), false (not yet confirmed: the same approver's link sends it again), or
null (unknown: the workflow stopped waiting after an unconfirmed attempt). A first attempt that finds the
workflow no longer waiting ends UNDELIVERED. The run's ``WAVE#<nn>`` item carries the approval's status for the
run record and report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from handlers.contract.table import ApprovalStatus
from handlers.records.codec import parse_iso
from handlers.records.items import ApprovalRecord

USER_AGENT_LENGTH = 512
# A recorded decision may be sent again only after this long: longer than ApprovalDecision's own timeout (15 s), so
# the attempt that recorded it has certainly ended (two attempts racing would confuse "not waiting" with "lost").
REDELIVERY_AFTER_SECONDS = 60
RECORD_DAYS_AFTER_EXPIRY = 7


def clean_user_agent(user_agent: str) -> str:
    """The User-Agent as recorded and shown: control characters (CR, LF, ...) replaced, at most
    ``USER_AGENT_LENGTH`` characters, so a header cannot forge lines in a log, a report or an email."""
    cleaned = "".join(character if character.isprintable() else " " for character in user_agent)
    return cleaned[:USER_AGENT_LENGTH]


def token_digest(task_token: str) -> str:
    """Identifies a task token without storing it twice (a retried request reuses its approval)."""
    return hashlib.sha256(task_token.encode()).hexdigest()


def awaits_delivery(approval: ApprovalRecord | None, recipient: str, decision: str, now: datetime) -> bool:
    """``recipient``'s ``decision`` is recorded (DECIDED, token kept), not known to have reached the workflow, and
    the attempt that recorded it is over: it may be sent again."""
    return bool(
        approval
        and approval["status"] == ApprovalStatus.DECIDED
        and approval.get("delivered") is False
        and (approval.get("decidedBy"), approval.get("decision")) == (recipient, decision)
        and parse_iso(approval["decidedAt"]) <= now - timedelta(seconds=REDELIVERY_AFTER_SECONDS)
    )


def rejection_text(decision: Mapping[str, Any]) -> str:
    """How a rejection reaches the workflow (the task failure's cause) and reads in the run record and report."""
    return f"rejected by {decision['decidedBy']} at {decision['decidedAt']} from {decision['sourceIp']}"


def decision_record(approval: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded decision as the workflow receives it (and the run record keeps it)."""
    return {
        "approvalId": approval["approvalId"],
        "decision": approval["decision"],
        "decidedBy": approval["decidedBy"],
        "decidedAt": approval["decidedAt"],
        "sourceIp": approval["sourceIp"],
        "userAgent": approval["userAgent"],
        "approvedBy": list(approval.get("approvedBy", [])),
    }
