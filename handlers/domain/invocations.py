"""An SSM command's per-instance results, written onto the run's INSTANCE items; and cancelling a command."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.domain.fleet import INVOCATION_IN_PROGRESS, INVOCATION_SUCCESS, PATCH
from handlers.domain.target import Target
from handlers.records.items import PhaseResult
from handlers.runtime.observability import metrics

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import CommandInvocationTypeDef

    from handlers.records.repository import RunTable

# ListCommandInvocations output per plugin is cut at 2,500 characters; a reason needs far less.
REASON_LENGTH = 500
# A plugin whose precondition did not hold (the other platform's step of the snapshot document) did not run.
SKIPPED: frozenset[str] = frozenset({"Skipped"})


def record(
    ssm: SSMClient, runs: RunTable, target: Target, command_id: str, *, phase: str, expires_at: int
) -> dict[str, int]:
    """Write each instance's result for ``phase`` onto its INSTANCE item (creating it if Discover missed it)."""
    counts: Counter[str] = Counter()
    pages = ssm.get_paginator("list_command_invocations").paginate(CommandId=command_id, Details=True)
    for page in pages:
        for invocation in page["CommandInvocations"]:
            outcome = result(invocation, command_id)
            counts[outcome["status"]] += 1
            counts["finished"] += outcome["status"] not in INVOCATION_IN_PROGRESS
            runs.record_instance_result(target, invocation["InstanceId"], phase, outcome, expires_at=expires_at)
    if phase == PATCH:
        metrics.add_metric(name="InstancesPatched", unit=MetricUnit.Count, value=counts[INVOCATION_SUCCESS])
        failed = counts["finished"] - counts[INVOCATION_SUCCESS]
        metrics.add_metric(name="InstancesNotPatched", unit=MetricUnit.Count, value=failed)
    return dict(counts)


def result(invocation: CommandInvocationTypeDef, command_id: str) -> PhaseResult:
    """One instance's invocation as its record keeps it: status, response code, and why it did not succeed."""
    plugins = [plugin for plugin in invocation.get("CommandPlugins", []) if plugin.get("Status") not in SKIPPED]
    response_code = plugins[0].get("ResponseCode", -1) if plugins else -1
    reason = invocation.get("StatusDetails", invocation["Status"])
    failed_output = next((p.get("Output", "") for p in plugins if p.get("Status") not in (INVOCATION_SUCCESS,)), "")
    if failed_output:
        reason = f"{reason}: {failed_output.strip()[-REASON_LENGTH:]}"
    return {
        "commandId": command_id,
        "status": invocation["Status"],
        "statusDetails": invocation.get("StatusDetails", ""),
        "responseCode": int(response_code),
        "reason": reason if invocation["Status"] != INVOCATION_SUCCESS else "",
    }


def cancel(ssm: SSMClient, command_id: str) -> None:
    """Cancel what is still running of ``command_id`` (nothing if it has ended)."""
    try:
        ssm.cancel_command(CommandId=command_id)
    except ClientError as error:
        # Finished in the meantime: nothing left to cancel.
        if error.response["Error"]["Code"] not in ("InvalidCommandId", "DuplicateInstanceId"):
            raise
