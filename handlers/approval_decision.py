"""ApprovalDecision (``POST /approvals/{id}``): record a decision once, then tell the waiting workflow.

1. The form's link fields must carry the hub key's signature (KMS ``VerifyMac``) and must not have expired.
2. An approval is first recorded as the recipient's vote (once per approver). Where the hub's MinimumApprovers
   needs several, the page says who has approved and how many more must; the vote that makes the quorum, or any
   one rejection, moves the approval PENDING -> DECIDED in one conditional update that also records who decided
   (the recipient the link was signed for), from where (source IP, user agent) and when. A second POST, or a POST
   for the other action, finds it DECIDED and changes nothing.
3. Approve: ``SendTaskSuccess`` with the decision as output. Reject: ``SendTaskFailure`` with error
   ``ApprovalRejected`` and "rejected by <who> at <when> from <ip>" as cause (plain text: nothing for the workflow
   to parse). The workflow records either in the run.

Delivery is one attempt with a short timeout (an SDK retry after a lost answer would look like "not waiting").
- Delivered: ``delivered`` is set and the task token removed.
- The workflow no longer waits (timed out, stopped) on the first attempt: the approval ends UNDELIVERED; the link
  answers "expired".
- Throttled (Step Functions refused the call, so nothing arrived): the approval reopens, the link works again.
- Anything else (a timeout, a dropped connection, a crash of this function): whether the workflow heard is
  unknown. The decision stays recorded with its token, and the same approver's same link sends it again once the
  first attempt has certainly ended (``approvals.REDELIVERY_AFTER_SECONDS``); a workflow that already heard it
  answers "not waiting", which is then reported as such, not as "not applied". Every write after the claim is
  conditional on the claim still being the one this attempt made or saw.
Only this function's role may call ``states:SendTask*``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from handlers.approval_web import http, views
from handlers.approval_web.http import Request
from handlers.approval_web.links import APPROVE, LinkClaims
from handlers.approval_web.views import Page
from handlers.contract.environment import ApprovalDecisionEnv
from handlers.contract.errors import ApprovalRejected
from handlers.contract.table import ApprovalStatus, Decision
from handlers.domain import approvals
from handlers.records.codec import iso
from handlers.records.items import ApprovalRecord
from handlers.records.repository import DecisionClaim, RunTable
from handlers.runtime.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# The workflow no longer waits for this token: it timed out, the execution ended, or it already has the answer.
NOT_WAITING = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
# Step Functions refused the call before processing it: nothing reached the workflow.
REFUSED_UNPROCESSED = frozenset({"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})


def decide(request: Request) -> Page:
    link = http.verified_link(request)
    if isinstance(link, Page):
        return link
    claims, runs = link.claims, request.runs
    decision = Decision.APPROVED if claims.action == APPROVE else Decision.REJECTED
    claim = DecisionClaim(
        decision=decision,
        decided_by=claims.recipient,
        decided_at=iso(request.now),
        source_ip=request.source_ip,
        user_agent=approvals.clean_user_agent(request.user_agent),
        now=int(request.now.timestamp()),
    )
    if decision == Decision.APPROVED:
        waiting = _vote(runs, claim, claims.approval_id)
        if waiting is not None:
            return waiting
    approval = runs.claim_decision(claims.approval_id, claim)
    first_attempt = approval is not None
    if approval is None:
        recorded = runs.get_approval(claims.approval_id)
        if recorded is None or not approvals.awaits_delivery(recorded, claims.recipient, decision, request.now):
            return _not_decidable(recorded, claims, request.now)
        approval = recorded  # an earlier attempt may or may not have reached the workflow
    outcome = approvals.decision_record(approval)
    log = {"approvalId": claims.approval_id, "decision": decision, "runId": approval["runId"]}
    try:
        _deliver(request.clients.stepfunctions(retries=False), approval["taskToken"], outcome)
    except (ClientError, BotoCoreError) as error:
        return _undelivered(runs, approval, error, first_attempt=first_attempt, log=log)
    runs.settle_approval(approval["approvalId"], ApprovalStatus.DECIDED, delivered=True, reason="")
    logger.info("approval decided", extra=log)
    metrics.add_metric(name=f"Approvals{decision.title()}", unit=MetricUnit.Count, value=1)
    return views.decided_page({**approval, **outcome}, just_now=True)


def _vote(runs: RunTable, vote: DecisionClaim, approval_id: str) -> Page | None:
    """Record ``vote``; the page to show while the approval still waits for more approvers, or None when the
    claim that follows decides (or explains why nothing can be decided)."""
    tally = runs.record_vote(approval_id, vote)
    just_now = tally is not None
    if tally is None:
        tally = runs.get_approval(approval_id)
        # Not pending, expired, not an approver: the claim fails and says which. Voted already: see below.
        if (
            tally is None
            or tally["status"] != ApprovalStatus.PENDING
            or vote.decided_by not in tally.get("approvedBy", [])
        ):
            return None
    if len(tally.get("approvedBy", [])) >= int(tally.get("minimumApprovers", 1)):
        return None  # this vote makes (or, after a reopened claim, made) the quorum: claim the decision
    logger.info(
        "approval vote recorded" if just_now else "approval vote repeated",
        extra={"approvalId": approval_id, "runId": tally["runId"], "votes": len(tally.get("approvedBy", []))},
    )
    if just_now:
        metrics.add_metric(name="ApprovalVotes", unit=MetricUnit.Count, value=1)
    return views.vote_page(tally, vote.decided_by, just_now=just_now)


def _deliver(stepfunctions: SFNClient, task_token: str, outcome: dict[str, Any]) -> None:
    if outcome["decision"] == Decision.APPROVED:
        stepfunctions.send_task_success(taskToken=task_token, output=json.dumps(outcome, sort_keys=True))
    else:
        stepfunctions.send_task_failure(
            taskToken=task_token, error=ApprovalRejected.error_name(), cause=approvals.rejection_text(outcome)
        )


def _undelivered(
    runs: RunTable, approval: ApprovalRecord, error: Exception, *, first_attempt: bool, log: dict[str, Any]
) -> Page:
    code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else type(error).__name__
    log = {**log, "error": code}
    approval_id = approval["approvalId"]
    if code in NOT_WAITING and first_attempt:
        settled = runs.settle_approval(approval_id, ApprovalStatus.UNDELIVERED, delivered=False, reason=code)
        note, message = logger.warning, "decision not delivered: the workflow no longer waits"
        page = views.expired_page(undelivered=True)
    elif code in NOT_WAITING:
        # After an unconfirmed attempt: the workflow may have heard it then, or timed out since.
        settled = runs.settle_approval(approval_id, ApprovalStatus.DECIDED, delivered=None, reason=code)
        note, message = logger.warning, "workflow no longer waits after an unconfirmed delivery"
        page = views.NO_LONGER_WAITING
    elif code in REFUSED_UNPROCESSED and first_attempt:
        settled = runs.reopen_approval(approval)
        note, message = logger.error, "decision not delivered; approval reopened"
        page = views.NOT_DELIVERED
    else:
        logger.error("decision recorded; delivery unconfirmed", extra=log)
        metrics.add_metric(name="ApprovalDeliveriesUnconfirmed", unit=MetricUnit.Count, value=1)
        return views.DELIVERY_UNCONFIRMED
    if not settled:
        return _settled_meanwhile(runs, approval)
    note(message, extra=log)
    return page


def _settled_meanwhile(runs: RunTable, approval: ApprovalRecord) -> Page:
    """Another attempt settled the approval meanwhile: its outcome stands."""
    settled = runs.get_approval(approval["approvalId"])
    return views.decided_page(settled or approval, just_now=False)


def _not_decidable(approval: ApprovalRecord | None, claims: LinkClaims, now: datetime) -> Page:
    """Why the conditional update decided nothing: unknown, already decided, expired, or not an approver."""
    if approval is None:
        return views.UNKNOWN_APPROVAL
    if approval["status"] == ApprovalStatus.DECIDED:
        logger.info("approval already decided", extra={"approvalId": claims.approval_id})
        metrics.add_metric(name="ApprovalReplaysRefused", unit=MetricUnit.Count, value=1)
        return views.decided_page(approval, just_now=False)
    if approval["status"] == ApprovalStatus.UNDELIVERED or approval["linkExpiresAt"] <= now.timestamp():
        return views.expired_page(undelivered=approval["status"] == ApprovalStatus.UNDELIVERED)
    # Pending and unexpired: the link was signed for someone who is not one of this wave's approvers.
    logger.warning("approval decision from a non-approver", extra={"approvalId": claims.approval_id})
    return views.INVALID_LINK


handle = http.route("POST", decide, form=True)
lambda_handler = http.entry_point(handle, ApprovalDecisionEnv)
