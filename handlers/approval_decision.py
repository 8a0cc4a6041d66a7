"""ApprovalDecision (``POST /approvals/{id}``): record a decision once, then tell the waiting workflow.

1. The form's link fields must carry the hub key's signature (KMS ``VerifyMac``) and must not have expired.
2. The approval moves PENDING -> DECIDED in one conditional update that also records who decided (the recipient
   the link was signed for), from where (source IP, user agent) and when. A second POST, or a POST for the other
   action, finds it DECIDED and changes nothing.
3. Approve: ``SendTaskSuccess`` with the decision as output. Reject: ``SendTaskFailure`` with error
   ``ApprovalRejected`` and the decision (JSON) as cause. The workflow records either in the run.

If the workflow no longer waits (the approval timed out, the run was stopped), the approval ends UNDELIVERED and
the page says the link expired. If delivery fails for another reason, the approval goes back to PENDING so the
approver can try again; nothing is half-decided. Only this function's role may call ``states:SendTask*``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.common import approval_api, approval_views, approvals, records
from handlers.common.approval_api import Request
from handlers.common.approval_links import APPROVE, LinkClaims
from handlers.common.approval_views import Page
from handlers.common.errors import ApprovalRejected
from handlers.common.runtime import logger, metrics

# The workflow no longer waits for this token: it timed out, or the execution ended.
NOT_WAITING = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


def decide(request: Request) -> Page:
    link = approval_api.verified_link(request)
    if isinstance(link, Page):
        return link
    claims, env, now = link.claims, request.env, request.now
    dynamodb = request.clients.hub("dynamodb")
    decision = approvals.APPROVED if claims.action == APPROVE else approvals.REJECTED
    try:
        approval = records.from_item(
            dynamodb.update_item(
                TableName=env.table_name,
                Key=approvals.key(claims.approval_id),
                UpdateExpression="SET #status = :decided, decision = :decision, decidedBy = :by, decidedAt = :at, "
                "sourceIp = :ip, userAgent = :agent",
                # The recipient check is belt and braces: links are only ever signed for the wave's approvers.
                ConditionExpression="#status = :pending AND linkExpiresAt > :now AND contains(approvers, :by)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=records.to_item(
                    {
                        ":decided": approvals.DECIDED,
                        ":pending": approvals.PENDING,
                        ":decision": decision,
                        ":by": claims.recipient,
                        ":at": records.iso(now),
                        ":ip": request.source_ip,
                        ":agent": request.user_agent[: approvals.USER_AGENT_LENGTH],
                        ":now": int(now.timestamp()),
                    }
                ),
                ReturnValues="ALL_NEW",
            )["Attributes"]
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return _not_decidable(dynamodb, env.table_name, claims, now)

    outcome = approvals.decision_record(
        approval, decision=decision, recipient=claims.recipient, source_ip=request.source_ip,
        user_agent=request.user_agent, now=now,
    )  # fmt: skip
    log = {"approvalId": claims.approval_id, "decision": decision, "runId": approval["runId"]}
    try:
        _deliver(request.clients.hub("stepfunctions"), approval["taskToken"], outcome)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in NOT_WAITING:
            _settle(dynamodb, env.table_name, claims.approval_id, approvals.UNDELIVERED, reason=code)
            logger.warning("decision not delivered: the workflow no longer waits", extra={**log, "error": code})
            return approval_views.expired_page(undelivered=True)
        _reopen(dynamodb, env.table_name, claims.approval_id)
        logger.error("decision not delivered; approval reopened", extra={**log, "error": code})
        return approval_views.NOT_DELIVERED
    _settle(dynamodb, env.table_name, claims.approval_id, approvals.DECIDED, reason="")
    logger.info("approval decided", extra=log)
    metrics.add_metric(name=f"Approvals{decision.title()}", unit=MetricUnit.Count, value=1)
    return approval_views.decided_page({**approval, **outcome}, just_now=True)


def _deliver(stepfunctions: Any, task_token: str, outcome: dict[str, Any]) -> None:
    if outcome["decision"] == approvals.APPROVED:
        stepfunctions.send_task_success(taskToken=task_token, output=json.dumps(outcome, sort_keys=True))
    else:
        stepfunctions.send_task_failure(
            taskToken=task_token, error=ApprovalRejected.error_name(), cause=json.dumps(outcome, sort_keys=True)
        )


def _not_decidable(dynamodb: Any, table: str, claims: LinkClaims, now: datetime) -> Page:
    """Why the conditional update decided nothing: unknown, already decided, expired, or not an approver."""
    approval = approvals.get(dynamodb, table, claims.approval_id)
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


def _settle(dynamodb: Any, table: str, approval_id: str, status: str, *, reason: str) -> None:
    """The decision's last state; the task token is dropped: it has done its one job."""
    dynamodb.update_item(
        TableName=table,
        Key=approvals.key(approval_id),
        UpdateExpression="SET #status = :status, deliveryError = :reason REMOVE taskToken",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=records.to_item({":status": status, ":reason": reason}),
    )


def _reopen(dynamodb: Any, table: str, approval_id: str) -> None:
    """Undo the claim so the same link can decide again once delivery works."""
    dynamodb.update_item(
        TableName=table,
        Key=approvals.key(approval_id),
        UpdateExpression="SET #status = :pending REMOVE decision, decidedBy, decidedAt, sourceIp, userAgent",
        ConditionExpression="#status = :decided",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=records.to_item({":pending": approvals.PENDING, ":decided": approvals.DECIDED}),
    )


handle = approval_api.route("POST", decide, form=True)
lambda_handler = approval_api.entry_point(handle)
