"""An SSM command's per-instance results, written onto the run's INSTANCE items; and cancelling a command."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.common import records
from handlers.common.events import Target
from handlers.common.fleet import INVOCATION_IN_PROGRESS, PATCH
from handlers.common.runtime import Env, metrics

# ListCommandInvocations output per plugin is cut at 2,500 characters; a reason needs far less.
REASON_LENGTH = 500


def record(
    ssm: Any, dynamodb: Any, env: Env, target: Target, command_id: str, *, phase: str, now: datetime
) -> dict[str, int]:
    """Write each instance's result for ``phase`` onto its INSTANCE item (creating it if Discover missed it)."""
    counts: Counter[str] = Counter()
    pages = ssm.get_paginator("list_command_invocations").paginate(CommandId=command_id, Details=True)
    for page in pages:
        for invocation in page["CommandInvocations"]:
            result = _result(invocation, command_id)
            counts[result["status"]] += 1
            counts["finished"] += result["status"] not in INVOCATION_IN_PROGRESS
            dynamodb.update_item(
                TableName=env.table_name,
                Key=records.key(
                    target.run_id, records.instance_sk(target.account_id, target.region, invocation["InstanceId"])
                ),
                UpdateExpression="SET #phase = :result, waveIndex = :wave, accountId = :account, #region = :region, "
                "instanceId = :instance, expiresAt = if_not_exists(expiresAt, :expires)",
                ExpressionAttributeNames={"#phase": phase, "#region": "region"},
                ExpressionAttributeValues=records.to_item(
                    {
                        ":result": result,
                        ":wave": target.wave_index,
                        ":account": target.account_id,
                        ":region": target.region,
                        ":instance": invocation["InstanceId"],
                        ":expires": records.expires_at(now, env.retention_days),
                    }
                ),
            )
    if phase == PATCH:
        metrics.add_metric(name="InstancesPatched", unit=MetricUnit.Count, value=counts["Success"])
        failed = counts["finished"] - counts["Success"]
        metrics.add_metric(name="InstancesNotPatched", unit=MetricUnit.Count, value=failed)
    return dict(counts)


def _result(invocation: dict[str, Any], command_id: str) -> dict[str, Any]:
    plugins = [plugin for plugin in invocation.get("CommandPlugins", []) if plugin.get("Status") != "Skipped"]
    response_code = plugins[0].get("ResponseCode", -1) if plugins else -1
    reason = invocation.get("StatusDetails", invocation["Status"])
    failed_output = next((p.get("Output", "") for p in plugins if p.get("Status") not in ("Success",)), "")
    if failed_output:
        reason = f"{reason}: {failed_output.strip()[-REASON_LENGTH:]}"
    return {
        "commandId": command_id,
        "status": invocation["Status"],
        "statusDetails": invocation.get("StatusDetails", ""),
        "responseCode": int(response_code),
        "reason": reason if invocation["Status"] != "Success" else "",
    }


def cancel(ssm: Any, command_id: str) -> None:
    """Cancel what is still running of ``command_id`` (nothing if it has ended)."""
    try:
        ssm.cancel_command(CommandId=command_id)
    except ClientError as error:
        # Finished in the meantime: nothing left to cancel.
        if error.response["Error"]["Code"] not in ("InvalidCommandId", "DuplicateInstanceId"):
            raise
