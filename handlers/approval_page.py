"""ApprovalPage (``GET /approvals/{id}``): show what an approval link will decide. Changes nothing.

Mail scanners and link previews open links; so does a person who has not made up their mind. This handler only
reads: it checks the link's signature (KMS ``VerifyMac``) and expiry, reads the approval, and renders a page
whose button POSTs the decision. Its role has no ``states:*`` and no table writes.
"""

from __future__ import annotations

from handlers.common import approval_api, approval_views, approvals
from handlers.common.approval_api import Request
from handlers.common.approval_links import APPROVE
from handlers.common.approval_views import Page
from handlers.common.runtime import logger


def confirmation(request: Request) -> Page:
    link = approval_api.verified_link(request)
    if isinstance(link, Page):
        return link
    approval = approvals.get(
        request.clients.hub("dynamodb"),
        request.env.table_name,
        link.claims.approval_id,
        attributes=approvals.PAGE_ATTRIBUTES,
    )
    if approval is None:
        return approval_views.UNKNOWN_APPROVAL
    decision = approvals.APPROVED if link.claims.action == APPROVE else approvals.REJECTED
    if approvals.awaits_delivery(approval, link.claims.recipient, decision, request.now):
        return approval_views.confirmation_page(approval, link.claims, link.signature, resend=True)
    if approval["status"] == approvals.DECIDED:
        return approval_views.decided_page(approval, just_now=False)  # (says when delivery is unknown)
    if approval["status"] != approvals.PENDING:
        return approval_views.expired_page(undelivered=True)
    logger.info("approval page shown", extra={"approvalId": link.claims.approval_id, "action": link.claims.action})
    return approval_views.confirmation_page(approval, link.claims, link.signature)


handle = approval_api.route("GET", confirmation, form=False)
lambda_handler = approval_api.entry_point(handle)
