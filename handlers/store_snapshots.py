"""StoreSnapshots: copy each instance's pre-patch snapshot output into the hub bucket (hub-write).

Event: ``{"runId", "accountId", "region", "command": {"commandId"}}``. Writes, per instance::

    runs/<runId>/pre/account-<accountId>/region-<region>/<os>/<instanceId>/stdout.txt
                                                                       /stderr.txt
                                                                       /meta.json

``<runId>`` is the execution name. ``meta.json`` says which command produced the files, how it ended, and
whether SSM cut the output (GetCommandInvocation returns at most 24,000 characters).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.common import records
from handlers.common.aws import Clients
from handlers.common.events import Target, field
from handlers.common.fleet import INVOCATION_SUCCESS, OUTPUT_LIMIT, SNAPSHOT, SNAPSHOT_PLUGIN
from handlers.common.runtime import Env, entry_point, logger, metrics


def snapshot_prefix(run_id: str, account_id: str, region: str, platform: str, instance_id: str) -> str:
    """Where one instance's snapshot files live (the layout the runbook documents)."""
    return f"runs/{run_id}/pre/account-{account_id}/region-{region}/{platform}/{instance_id}/"


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    target = Target.from_event(event)
    run_id, account_id, region = target.run_id, target.account_id, target.region
    command_id = field(event, "command.commandId", str)
    if not env.artifact_bucket:
        raise RuntimeError("ARTIFACT_BUCKET is not set")
    ssm = target.spoke(clients, "ssm")
    s3 = clients.hub("s3")
    dynamodb = clients.hub("dynamodb")
    platforms = {
        item["instanceId"]: item.get("platform", "linux")
        for item in records.query_prefix(dynamodb, env.table_name, run_id, records.instance_sk(account_id, region))
    }
    stored = failed = 0
    pages = ssm.get_paginator("list_command_invocations").paginate(CommandId=command_id)
    for page in pages:
        for invocation in page["CommandInvocations"]:
            instance_id = invocation["InstanceId"]
            platform = platforms.get(instance_id, "linux")
            output = ssm.get_command_invocation(
                CommandId=command_id, InstanceId=instance_id, PluginName=SNAPSHOT_PLUGIN[platform]
            )
            stdout = output.get("StandardOutputContent", "")
            stderr = output.get("StandardErrorContent", "")
            prefix = snapshot_prefix(run_id, account_id, region, platform, instance_id)
            meta = {
                "runId": run_id,
                "accountId": account_id,
                "region": region,
                "instanceId": instance_id,
                "platform": platform,
                "commandId": command_id,
                "status": output.get("Status", invocation["Status"]),
                "statusDetails": output.get("StatusDetails", ""),
                "responseCode": output.get("ResponseCode", -1),
                "executionStartDateTime": output.get("ExecutionStartDateTime", ""),
                "executionEndDateTime": output.get("ExecutionEndDateTime", ""),
                "storedAt": records.iso(now),
                "stdoutTruncated": len(stdout) >= OUTPUT_LIMIT,
                "stderrTruncated": len(stderr) >= OUTPUT_LIMIT,
            }
            _put(s3, env.artifact_bucket, prefix + "stdout.txt", stdout, "text/plain; charset=utf-8")
            _put(s3, env.artifact_bucket, prefix + "stderr.txt", stderr, "text/plain; charset=utf-8")
            _put(
                s3,
                env.artifact_bucket,
                prefix + "meta.json",
                json.dumps(meta, indent=2, sort_keys=True),
                "application/json",
            )
            ok = meta["status"] == INVOCATION_SUCCESS
            stored += ok
            failed += not ok
            dynamodb.update_item(
                TableName=env.table_name,
                Key=records.key(run_id, records.instance_sk(account_id, region, instance_id)),
                UpdateExpression="SET #phase.#prefix = :prefix",
                ExpressionAttributeNames={"#phase": SNAPSHOT, "#prefix": "s3Prefix"},
                ExpressionAttributeValues=records.to_item({":prefix": prefix}),
            )
    logger.info(
        "snapshots stored", extra={"accountId": account_id, "region": region, "stored": stored, "failed": failed}
    )
    metrics.add_metric(name="SnapshotsStored", unit=MetricUnit.Count, value=stored)
    return {"stored": stored, "failed": failed}


def _put(s3: Any, bucket: str, key: str, body: str, content_type: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType=content_type)


lambda_handler = entry_point(handle)
