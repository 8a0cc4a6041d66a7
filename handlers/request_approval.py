"""RequestApproval: ask a wave's approvers, then let the workflow wait (``lambda:invoke.waitForTaskToken``).

Event: ``{"runId", "wave": <normalised wave>, "settings": <run settings>, "taskToken"}``. Stores the task token
under a fresh random approval id (it never leaves the hub), marks the wave's approval PENDING in the run record,
and publishes one message per approver to the approvals topic (message attribute ``approver``, so each email
subscription's filter policy delivers only that person's links). Links go only to approvers with such a
subscription, and not at all while any other subscription could read them (``approval_channel``). Each message
holds an approve and a reject link signed with the hub's KMS HMAC key over (id, action, expiry, recipient);
links expire when the wave's approval times out. A retried invocation for the same task token reuses its
approval instead of opening a second one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.common import approval_channel, approval_links, approval_views, approvals, records
from handlers.common.approval_links import APPROVE, REJECT, LinkClaims
from handlers.common.aws import Clients
from handlers.common.events import field
from handlers.common.runtime import Env, entry_point, logger, metrics
from handlers.contract import table


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    run_id = field(event, "runId", str)
    wave = field(event, "wave", dict)
    settings = field(event, "settings", dict)
    task_token = field(event, "taskToken", str)
    wave_index = field(event, "wave.index", int)
    approvers = field(event, "wave.approval.approvers", list)
    timeout_seconds = field(event, "wave.approval.timeoutSeconds", int)
    if not (env.approval_topic_arn and env.approval_key_arn and env.approval_api_url):
        raise RuntimeError("APPROVAL_TOPIC_ARN, APPROVAL_KEY_ARN and APPROVAL_API_URL must all be set")
    kms, sns, dynamodb = clients.hub("kms"), clients.hub("sns"), clients.hub("dynamodb")
    # Before anything is stored: links go only to approvers whose subscription nobody else reads.
    channel = approval_channel.recipients(sns, env.approval_topic_arn, approvers)
    reachable = list(channel.reachable)
    digest = approvals.token_digest(task_token)

    waves = list(records.query_prefix(dynamodb, env.table_name, run_id, "WAVE#"))
    current = next((item for item in waves if item["sk"] == records.wave_sk(wave_index)), {})
    earlier = sorted((item for item in waves if item.get("waveIndex", wave_index) < wave_index), key=_index)
    existing = current.get("approval", {})
    if existing.get("tokenDigest") == digest:
        # A retried invocation of the same task: same approval, same links (sending them again is harmless).
        approval_id, requested_at, link_expires = existing["approvalId"], existing["requestedAt"], existing["expires"]
    else:
        approval_id = approval_links.new_approval_id()
        requested_at = records.iso(now)
        link_expires = int((now + timedelta(seconds=timeout_seconds)).timestamp())
    approval = {
        "pk": table.approval_pk(approval_id),
        "sk": records.META,
        "approvalId": approval_id,
        "runId": run_id,
        "waveIndex": wave_index,
        "waveName": wave["name"],
        "status": approvals.PENDING,
        "taskToken": task_token,
        "tokenDigest": digest,
        "approvers": reachable,
        "requestedAt": requested_at,
        "linkExpiresAt": link_expires,
        "plan": approvals.plan(wave, settings, earlier),
        # A short-lived capability record: gone (with any unused token) a week after its links expire. Who decided,
        # when and from where stays in the run's wave record for the run's retention.
        "expiresAt": link_expires + approvals.RECORD_DAYS_AFTER_EXPIRY * 86400,
    }
    try:
        dynamodb.put_item(
            TableName=env.table_name,
            Item=records.to_item(approval),
            ConditionExpression="attribute_not_exists(pk) OR (tokenDigest = :digest AND #status = :pending)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=records.to_item({":digest": digest, ":pending": approvals.PENDING}),
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        # Decided between the first attempt and this one: the decision stands and is already on its way.
        logger.info("approval already decided; not asking again", extra={"approvalId": approval_id})
        return {"approvalId": approval_id, "requested": False}
    records.set_fields(
        dynamodb,
        env.table_name,
        records.key(run_id, records.wave_sk(wave_index)),
        {
            "approval": {
                "status": approvals.PENDING,
                "approvalId": approval_id,
                "tokenDigest": digest,
                "approvers": reachable,
                "unreachableApprovers": channel.unreachable,
                "requestedAt": requested_at,
                "expires": link_expires,
                "expiresAt": records.iso(datetime.fromtimestamp(link_expires, now.tzinfo)),
            },
            "waveIndex": wave_index,
            "name": wave["name"],
            "expiresAt": records.expires_at(now, env.retention_days),
        },
    )
    for recipient, attribute in channel.reachable.items():
        urls = {}
        for action in (APPROVE, REJECT):
            claims = LinkClaims(approval_id, action, link_expires, recipient)
            urls[action] = approval_links.url(
                env.approval_api_url, claims, approval_links.sign(kms, env.approval_key_arn, claims)
            )
        subject, body = approval_views.email(
            {**approval, "recipient": recipient}, approve_url=urls[APPROVE], reject_url=urls[REJECT]
        )
        sns.publish(
            TopicArn=env.approval_topic_arn,
            Subject=subject,
            Message=body,
            # The exact value the recipient's filter policy matches (addresses are compared without case).
            MessageAttributes={"approver": {"DataType": "String", "StringValue": attribute}},
        )
    if channel.unreachable:
        logger.warning(
            "approvers without a filtered subscription get no links", extra={"count": len(channel.unreachable)}
        )
    logger.info(
        "approval requested",
        extra={"approvalId": approval_id, "wave": wave["name"], "approvers": len(reachable), "expires": link_expires},
    )
    metrics.add_metric(name="ApprovalsRequested", unit=MetricUnit.Count, value=1)
    return {"approvalId": approval_id, "requested": True}


def _index(item: dict[str, Any]) -> int:
    return int(item.get("waveIndex", 0))


lambda_handler = entry_point(handle)
