"""RecordTarget: close one account x region target; every instance ends with a final state.

Event: ``{"runId", "waveIndex", "accountId", "region", "error"?: {"Error", "Cause"}}``. With ``error`` this is
the failure path (a caught error anywhere in the target): a patch command already sent is settled (results
recorded, the rest cancelled), instances without a patch result are recorded ``NotPatched`` with the error as
the reason, and the target is 500 unless some instance was patched.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.common import invocations, outcomes, records
from handlers.common.aws import Clients
from handlers.common.events import Target, optional
from handlers.common.fleet import COMMAND_TERMINAL, PATCH
from handlers.common.runtime import Env, entry_point, logger, metrics

CAUSE_LENGTH = 1000


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    target = Target.from_event(event)
    run_id, account_id, region = target.run_id, target.account_id, target.region
    error = optional(event, "error", dict, {})
    error_text = _error_text(error)
    dynamodb = clients.hub("dynamodb")
    if error:
        _settle_patch_command(target, env, clients, now)

    finals = []
    for item in records.query_prefix(dynamodb, env.table_name, run_id, records.instance_sk(account_id, region)):
        final = outcomes.instance_final(item, target_error=error_text)
        finals.append(final)
        if item.get("final") != final:
            dynamodb.update_item(
                TableName=env.table_name,
                Key=records.key(run_id, item["sk"]),
                UpdateExpression="SET #final = :final",
                ExpressionAttributeNames={"#final": "final"},
                ExpressionAttributeValues=records.to_item({":final": final}),
            )
    counts = outcomes.tally(finals)
    outcome = outcomes.target_outcome(counts, errored=bool(error))
    status = "ERRORED" if error else ("SKIPPED" if counts["total"] == 0 else "COMPLETED")
    dynamodb.put_item(
        TableName=env.table_name,
        Item=records.to_item(
            {
                "pk": records.run_pk(run_id),
                "sk": records.target_sk(target.wave_index, account_id, region),
                "waveIndex": target.wave_index,
                "accountId": account_id,
                "region": region,
                "status": status,
                "outcome": outcome,
                "counts": counts,
                "error": error_text,
                "recordedAt": records.iso(now),
                "expiresAt": records.expires_at(now, env.retention_days),
            }
        ),
    )
    logger.info(
        "target recorded",
        extra={"accountId": account_id, "region": region, "status": status, "outcome": outcome, **counts},
    )
    metrics.add_metric(name=f"Targets{outcome}", unit=MetricUnit.Count, value=1)
    return {"status": status, "outcome": outcome}


def _settle_patch_command(target: Target, env: Env, clients: Clients, now: datetime) -> None:
    """A target failed after its patch command was sent (a poll that kept failing, say): record what the
    instances did and cancel what still runs, so nothing keeps patching unwatched and a re-run does not patch
    instances that succeeded. Best effort: the failure is recorded whatever happens here."""
    ledger = records.get_item(
        clients.hub("dynamodb"),
        env.table_name,
        records.key(target.run_id, records.command_sk(target.wave_index, target.account_id, target.region, PATCH)),
    )
    command_id = (ledger or {}).get("commandId")
    if not command_id:
        return
    try:
        ssm = target.spoke(clients, "ssm")
        if not _has_ended(ssm, command_id):
            invocations.cancel(ssm, command_id)
        invocations.record(ssm, clients.hub("dynamodb"), env, target, command_id, phase=PATCH, now=now)
    except Exception as failure:
        logger.warning(
            "could not settle the patch command",
            extra={**target.log_keys(), "commandId": command_id, "error": str(failure)},
        )


def _has_ended(ssm: Any, command_id: str) -> bool:
    """Whether the command has ended; if SSM will not say (the failure may be SSM itself), assume it has not."""
    try:
        listed = ssm.list_commands(CommandId=command_id)["Commands"]
    except ClientError:
        return False
    return bool(listed) and listed[0]["Status"] in COMMAND_TERMINAL


def _error_text(error: dict[str, Any]) -> str:
    if not error:
        return ""
    cause = str(error.get("Cause", ""))
    # Lambda errors arrive as a JSON document in Cause; keep the message, not the stack trace.
    with contextlib.suppress(ValueError, AttributeError):
        cause = str(json.loads(cause).get("errorMessage", cause))
    return f"{error.get('Error', 'Error')}: {cause}"[:CAUSE_LENGTH]


lambda_handler = entry_point(handle)
