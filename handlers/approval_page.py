"""ApprovalPage (``GET /approvals/{id}``): show what an approval link will decide. Changes nothing.

Mail scanners and link previews open links; so does a person who has not made up their mind. This handler only
reads: it checks the link's signature (KMS ``VerifyMac``) and expiry, reads the approval, and renders a page
whose button POSTs the decision. Its role has no ``states:*`` and no table writes.
"""

from __future__ import annotations

from handlers.approval_web import http, views
from handlers.approval_web.http import Request
from handlers.approval_web.links import APPROVE
from handlers.approval_web.views import Page
from handlers.contract.environment import ApprovalPageEnv
from handlers.contract.table import ApprovalStatus, Decision
from handlers.domain import approvals
from handlers.records.items import ApprovalRecord
from handlers.runtime.observability import logger


def confirmation(request: Request) -> Page:
    link = http.verified_link(request)
    if isinstance(link, Page):
        return link
    # Never the task token: the page reads only what it shows (and its role may read nothing else).
    approval = request.runs.approval_for_page(link.claims.approval_id)
    if approval is None:
        return views.UNKNOWN_APPROVAL
    decision = Decision.APPROVED if link.claims.action == APPROVE else Decision.REJECTED
    if approvals.awaits_delivery(approval, link.claims.recipient, decision, request.now):
        return views.confirmation_page(approval, link.claims, link.signature, resend=True)
    settled = _settled(approval, link.claims.recipient, decision)
    if settled is not None:
        return settled
    logger.info("approval page shown", extra={"approvalId": link.claims.approval_id, "action": link.claims.action})
    return views.confirmation_page(approval, link.claims, link.signature)


def _settled(approval: ApprovalRecord, recipient: str, decision: Decision) -> Page | None:
    """The page for an approval this link can no longer decide, or None while it can."""
    if approval["status"] == ApprovalStatus.DECIDED:
        return views.decided_page(approval, just_now=False)  # (says when delivery is unknown)
    if approval["status"] != ApprovalStatus.PENDING:
        return views.expired_page(undelivered=True)
    if decision == Decision.APPROVED and recipient in approval.get("approvedBy", []):
        return views.vote_page(approval, recipient, just_now=False)  # waits for other approvers
    return None


handle = http.route("GET", confirmation, form=False)
lambda_handler = http.entry_point(handle, ApprovalPageEnv)
