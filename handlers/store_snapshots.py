"""StoreSnapshots: copy each instance's pre-patch snapshot output into the hub bucket (hub-write).

Event: ``{"runId", "executionId", "waveIndex", "accountId", "region", "command": {"commandId"}}``, checked against
the run (``handlers.domain.guard``); the command must be the snapshot command the run's ledger recorded for the
target. Writes, per instance::

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
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.contract.environment import StoreSnapshotsEnv
from handlers.contract.errors import NotThisRun
from handlers.domain import guard
from handlers.domain.fleet import INVOCATION_SUCCESS, OUTPUT_LIMIT, SNAPSHOT, SNAPSHOT_PLUGIN
from handlers.domain.target import Target, TargetEvent
from handlers.records.codec import iso
from handlers.records.items import InstanceRecord
from handlers.records.repository import RunTable
from handlers.runtime.clients import FleetClients
from handlers.runtime.entry import entry_point
from handlers.runtime.events import read_event
from handlers.runtime.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import CommandInvocationTypeDef


def snapshot_prefix(run_id: str, account_id: str, region: str, platform: str, instance_id: str) -> str:
    """Where one instance's snapshot files live (the layout the runbook documents)."""
    return f"runs/{run_id}/pre/account-{account_id}/region-{region}/{platform}/{instance_id}/"


@dataclass(frozen=True)
class Command:
    command_id: str


@dataclass(frozen=True, kw_only=True)
class StoreSnapshotsEvent(TargetEvent):
    command: Command


def handle(event: dict[str, Any], *, env: StoreSnapshotsEnv, clients: FleetClients, now: datetime) -> dict[str, Any]:
    request = read_event(StoreSnapshotsEvent, event)
    target, command_id = request.target, request.command.command_id
    runs = RunTable(clients.dynamodb(), env.table_name)
    guard.authorise(runs, target, execution_id=request.execution_id)
    ledger = runs.ledger_entry(target, SNAPSHOT)
    if ledger is None or ledger.get("commandId") != command_id:
        raise NotThisRun(
            f"command {command_id} is not the snapshot command run {target.run_id!r} sent to "
            f"{target.account_id}/{target.region}"
        )
    ssm = clients.spoke(target).ssm()
    known = {item["instanceId"]: item for item in runs.instances(target.run_id, target.account_id, target.region)}
    pages = ssm.get_paginator("list_command_invocations").paginate(CommandId=command_id)
    pending = [i for page in pages for i in page["CommandInvocations"]]
    # Resumable: a retry after a timeout skips the instances whose snapshot is already stored. Copies run side
    # by side (boto3 clients are thread-safe; each copy is a few calls, mostly waiting on the network).
    todo = [i for i in pending if not _stored(known.get(i["InstanceId"]))]
    copy = _Copier(target, command_id, known, env.artifact_bucket, ssm, clients.s3(), runs, now)
    with ThreadPoolExecutor(max_workers=env.snapshot_copy_workers) as pool:
        results = list(pool.map(copy, todo))
    stored, failed = results.count(True), results.count(False)
    logger.info(
        "snapshots stored",
        extra={**target.log_keys(), "stored": stored, "failed": failed, "skipped": len(pending) - len(todo)},
    )
    metrics.add_metric(name="SnapshotsStored", unit=MetricUnit.Count, value=stored)
    return {"stored": stored, "failed": failed, "skipped": len(pending) - len(todo)}


def _stored(instance: InstanceRecord | None) -> bool:
    """Whether the instance's snapshot is already in the bucket (its prefix is recorded last)."""
    return bool(instance and instance.get("snapshot", {}).get("s3Prefix"))


@dataclass(frozen=True)
class _Copier:
    """Copies one instance's snapshot into the bucket and notes where; True if the snapshot itself succeeded."""

    target: Target
    command_id: str
    known: dict[str, InstanceRecord]
    bucket: str
    ssm: SSMClient
    s3: S3Client
    runs: RunTable
    now: datetime

    def __call__(self, invocation: CommandInvocationTypeDef) -> bool:
        return _store_one(self, invocation)


def _store_one(job: _Copier, invocation: CommandInvocationTypeDef) -> bool:
    target, command_id, known, bucket, ssm, s3, runs, now = (
        job.target, job.command_id, job.known, job.bucket, job.ssm, job.s3, job.runs, job.now,
    )  # fmt: skip
    instance_id = invocation["InstanceId"]
    instance = known.get(instance_id)
    platform = instance.get("platform", "linux") if instance else "linux"
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
        "storedAt": iso(now),
        "stdoutTruncated": len(stdout) >= OUTPUT_LIMIT,
        "stderrTruncated": len(stderr) >= OUTPUT_LIMIT,
    }
    _put(s3, bucket, prefix + "stdout.txt", stdout, "text/plain; charset=utf-8")
    _put(s3, bucket, prefix + "stderr.txt", stderr, "text/plain; charset=utf-8")
    _put(s3, bucket, prefix + "meta.json", json.dumps(meta, indent=2, sort_keys=True), "application/json")
    # Written last: it is what marks the instance as done for a retry.
    runs.record_snapshot_prefix(target, instance_id, prefix)
    return bool(meta["status"] == INVOCATION_SUCCESS)


def _put(s3: S3Client, bucket: str, key: str, body: str, content_type: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType=content_type)


lambda_handler = entry_point(handle, StoreSnapshotsEnv)
