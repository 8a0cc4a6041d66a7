"""ApprovalDecision (``POST /approvals/{id}``): record a decision once, then tell the waiting workflow.

1. The form's link fields must carry the hub key's signature (KMS ``VerifyMac``) and must not have expired.
2. The approval moves PENDING -> DECIDED in one conditional update that also records who decided (the recipient
   the link was signed for), from where (source IP, user agent) and when. A second POST, or a POST for the other
   action, finds it DECIDED and changes nothing.
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
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from handlers.common import approval_api, approval_views, approvals, records
from handlers.common.approval_api import Request
from handlers.common.approval_links import APPROVE, LinkClaims
from handlers.common.approval_views import Page
from handlers.common.runtime import logger, metrics
from handlers.contract.errors import ApprovalRejected

# The workflow no longer waits for this token: it timed out, the execution ended, or it already has the answer.
NOT_WAITING = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
# Step Functions refused the call before processing it: nothing reached the workflow.
REFUSED_UNPROCESSED = frozenset({"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})


def decide(request: Request) -> Page:
    link = approval_api.verified_link(request)
    if isinstance(link, Page):
        return link
    claims, env = link.claims, request.env
    dynamodb = request.clients.hub("dynamodb")
    decision = approvals.APPROVED if claims.action == APPROVE else approvals.REJECTED
    try:
        approval = _claim(dynamodb, env.table_name, request, claims, decision)
        first_attempt = True
    except dynamodb.exceptions.ConditionalCheckFailedException:
        recorded = approvals.get(dynamodb, env.table_name, claims.approval_id)
        if recorded is None or not approvals.awaits_delivery(recorded, claims.recipient, decision, request.now):
            return _not_decidable(recorded, claims, request.now)
        approval, first_attempt = recorded, False  # an earlier attempt may or may not have reached the workflow
    outcome = approvals.decision_record(approval)
    log = {"approvalId": claims.approval_id, "decision": decision, "runId": approval["runId"]}
    try:
        _deliver(request.clients.hub("stepfunctions", retries=False), approval["taskToken"], outcome)
    except (ClientError, BotoCoreError) as error:
        return _undelivered(dynamodb, env.table_name, approval, error, first_attempt=first_attempt, log=log)
    _settle(dynamodb, env.table_name, approval, approvals.DECIDED, delivered=True, reason="")
    logger.info("approval decided", extra=log)
    metrics.add_metric(name=f"Approvals{decision.title()}", unit=MetricUnit.Count, value=1)
    return approval_views.decided_page({**approval, **outcome}, just_now=True)


def _claim(dynamodb: Any, table: str, request: Request, claims: LinkClaims, decision: str) -> dict[str, Any]:
    """PENDING -> DECIDED, once, recording who decided, from where and when."""
    return records.from_item(
        dynamodb.update_item(
            TableName=table,
            Key=approvals.key(claims.approval_id),
            UpdateExpression="SET #status = :decided, decision = :decision, decidedBy = :by, decidedAt = :at, "
            "sourceIp = :ip, userAgent = :agent, delivered = :false",
            # The recipient check is belt and braces: links are only ever signed for the wave's approvers.
            ConditionExpression="#status = :pending AND linkExpiresAt > :now AND contains(approvers, :by)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=records.to_item(
                {
                    ":decided": approvals.DECIDED,
                    ":pending": approvals.PENDING,
                    ":decision": decision,
                    ":by": claims.recipient,
                    ":at": records.iso(request.now),
                    ":ip": request.source_ip,
                    ":agent": request.user_agent[: approvals.USER_AGENT_LENGTH],
                    ":now": int(request.now.timestamp()),
                    ":false": False,
                }
            ),
            ReturnValues="ALL_NEW",
        )["Attributes"]
    )


def _deliver(stepfunctions: Any, task_token: str, outcome: dict[str, Any]) -> None:
    if outcome["decision"] == approvals.APPROVED:
        stepfunctions.send_task_success(taskToken=task_token, output=json.dumps(outcome, sort_keys=True))
    else:
        stepfunctions.send_task_failure(
            taskToken=task_token, error=ApprovalRejected.error_name(), cause=approvals.rejection_text(outcome)
        )


def _undelivered(
    dynamodb: Any, table: str, approval: dict[str, Any], error: Exception, *, first_attempt: bool, log: dict[str, Any]
) -> Page:
    code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else type(error).__name__
    log = {**log, "error": code}
    try:
        if code in NOT_WAITING and first_attempt:
            _settle(dynamodb, table, approval, approvals.UNDELIVERED, delivered=False, reason=code)
            logger.warning("decision not delivered: the workflow no longer waits", extra=log)
            return approval_views.expired_page(undelivered=True)
        if code in NOT_WAITING:
            # After an unconfirmed attempt: the workflow may have heard it then, or timed out since.
            _settle(dynamodb, table, approval, approvals.DECIDED, delivered=None, reason=code)
            logger.warning("workflow no longer waits after an unconfirmed delivery", extra=log)
            return approval_views.NO_LONGER_WAITING
        if code in REFUSED_UNPROCESSED and first_attempt:
            _reopen(dynamodb, table, approval)
            logger.error("decision not delivered; approval reopened", extra=log)
            return approval_views.NOT_DELIVERED
    except dynamodb.exceptions.ConditionalCheckFailedException:
        # Another attempt settled it meanwhile: its outcome stands.
        settled = approvals.get(dynamodb, table, approval["approvalId"])
        return approval_views.decided_page(settled or approval, just_now=False)
    logger.error("decision recorded; delivery unconfirmed", extra=log)
    metrics.add_metric(name="ApprovalDeliveriesUnconfirmed", unit=MetricUnit.Count, value=1)
    return approval_views.DELIVERY_UNCONFIRMED


def _not_decidable(approval: dict[str, Any] | None, claims: LinkClaims, now: datetime) -> Page:
    """Why the conditional update decided nothing: unknown, already decided, expired, or not an approver."""
    if approval is None:
        return approval_views.UNKNOWN_APPROVAL
    if approval["status"] == approvals.DECIDED:
        logger.info("approval already decided", extra={"approvalId": claims.approval_id})
        metrics.add_metric(name="ApprovalReplaysRefused", unit=MetricUnit.Count, value=1)
        return approval_views.decided_page(approval, just_now=False)
    if approval["status"] == approvals.UNDELIVERED or approval["linkExpiresAt"] <= now.timestamp():
        return approval_views.expired_page(undelivered=approval["status"] == approvals.UNDELIVERED)
    # Pending and unexpired: the link was signed for someone who is not one of this wave's approvers.
    logger.warning("approval decision from a non-approver", extra={"approvalId": claims.approval_id})
    return approval_views.INVALID_LINK


def _settle(
    dynamodb: Any, table: str, approval: dict[str, Any], status: str, *, delivered: bool | None, reason: str
) -> None:
    """The decision's last state (``delivered`` None: unknown); the task token is dropped: its job is over.

    Only a successful delivery settles unconditionally; any other outcome only while the token is still there and
    the decision not yet confirmed (another attempt may have settled it)."""
    condition = {} if delivered else {"ConditionExpression": "attribute_exists(taskToken) AND delivered = :false"}
    values = {":status": status, ":delivered": delivered, ":reason": reason} | ({} if delivered else {":false": False})
    dynamodb.update_item(
        TableName=table,
        Key=approvals.key(approval["approvalId"]),
        UpdateExpression="SET #status = :status, delivered = :delivered, deliveryError = :reason REMOVE taskToken",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=records.to_item(values),
        **condition,
    )


def _reopen(dynamodb: Any, table: str, approval: dict[str, Any]) -> None:
    """Undo this attempt's own claim (nothing reached the workflow) so the link can decide again."""
    dynamodb.update_item(
        TableName=table,
        Key=approvals.key(approval["approvalId"]),
        UpdateExpression="SET #status = :pending REMOVE decision, decidedBy, decidedAt, sourceIp, userAgent, delivered",
        ConditionExpression="#status = :decided AND delivered = :false AND decidedAt = :at AND decidedBy = :by",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=records.to_item(
            {
                ":pending": approvals.PENDING,
                ":decided": approvals.DECIDED,
                ":false": False,
                ":at": approval["decidedAt"],
                ":by": approval["decidedBy"],
            }
        ),
    )


handle = approval_api.route("POST", decide, form=True)
lambda_handler = approval_api.entry_point(handle)
