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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
    command_id = field(event, "command.commandId", str)
    if not env.artifact_bucket:
        raise RuntimeError("ARTIFACT_BUCKET is not set")
    ssm = target.spoke(clients, "ssm")
    dynamodb = clients.hub("dynamodb")
    known = {
        item["instanceId"]: item
        for item in records.query_prefix(
            dynamodb, env.table_name, target.run_id, records.instance_sk(target.account_id, target.region)
        )
    }
    pages = ssm.get_paginator("list_command_invocations").paginate(CommandId=command_id)
    pending = [i for page in pages for i in page["CommandInvocations"]]
    # Resumable: a retry after a timeout skips the instances whose snapshot is already stored. Copies run side
    # by side (boto3 clients are thread-safe; each copy is a few calls, mostly waiting on the network).
    todo = [i for i in pending if not known.get(i["InstanceId"], {}).get(SNAPSHOT, {}).get("s3Prefix")]
    copy = _Copier(target, command_id, known, env, ssm, clients.hub("s3"), dynamodb, now)
    with ThreadPoolExecutor(max_workers=env.snapshot_copy_workers) as pool:
        results = list(pool.map(copy, todo))
    stored, failed = results.count(True), results.count(False)
    logger.info(
        "snapshots stored",
        extra={**target.log_keys(), "stored": stored, "failed": failed, "skipped": len(pending) - len(todo)},
    )
    metrics.add_metric(name="SnapshotsStored", unit=MetricUnit.Count, value=stored)
    return {"stored": stored, "failed": failed, "skipped": len(pending) - len(todo)}


@dataclass(frozen=True)
class _Copier:
    """Copies one instance's snapshot into the bucket and notes where; True if the snapshot itself succeeded."""

    target: Target
    command_id: str
    known: dict[str, dict[str, Any]]
    env: Env
    ssm: Any
    s3: Any
    dynamodb: Any
    now: datetime

    def __call__(self, invocation: dict[str, Any]) -> bool:
        return _store_one(self, invocation)


def _store_one(job: _Copier, invocation: dict[str, Any]) -> bool:
    target, command_id, known, env, ssm, s3, dynamodb, now = (
        job.target, job.command_id, job.known, job.env, job.ssm, job.s3, job.dynamodb, job.now,
    )  # fmt: skip
    instance_id = invocation["InstanceId"]
    platform = known.get(instance_id, {}).get("platform", "linux")
    output = ssm.get_command_invocation(
        CommandId=command_id, InstanceId=instance_id, PluginName=SNAPSHOT_PLUGIN[platform]
    )
    stdout = output.get("StandardOutputContent", "")
    stderr = output.get("StandardErrorContent", "")
    prefix = snapshot_prefix(target.run_id, target.account_id, target.region, platform, instance_id)
    meta = {
        "runId": target.run_id,
        "accountId": target.account_id,
        "region": target.region,
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
    _put(s3, env.artifact_bucket, prefix + "meta.json", json.dumps(meta, indent=2, sort_keys=True), "application/json")
    # Written last: it is what marks the instance as done for a retry.
    dynamodb.update_item(
        TableName=env.table_name,
        Key=records.key(target.run_id, records.instance_sk(target.account_id, target.region, instance_id)),
        UpdateExpression="SET #phase.#prefix = :prefix",
        ExpressionAttributeNames={"#phase": SNAPSHOT, "#prefix": "s3Prefix"},
        ExpressionAttributeValues=records.to_item({":prefix": prefix}),
    )
    return bool(meta["status"] == INVOCATION_SUCCESS)


def _put(s3: Any, bucket: str, key: str, body: str, content_type: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType=content_type)


lambda_handler = entry_point(handle)
