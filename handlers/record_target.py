"""RecordTarget: close one account x region target; every instance ends with a final state.

Event: ``{"runId", "executionId", "waveIndex", "accountId", "region", "error"?: {"Error", "Cause"}}``, checked
against the run first (``handlers.domain.guard``). With ``error`` this is
the failure path (a caught error anywhere in the target): a patch command already sent is settled (results
recorded, the rest cancelled), instances without a patch result are recorded ``NotPatched`` with the error as
the reason, and the target is 500 unless some instance was patched.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.contract.environment import RecordTargetEnv
from handlers.contract.table import TargetStatus, run_pk, target_sk
from handlers.domain import guard, invocations, outcomes
from handlers.domain.fleet import COMMAND_TERMINAL, PATCH
from handlers.domain.target import Target, TargetEvent
from handlers.records.codec import expires_at, iso
from handlers.records.repository import RunTable
from handlers.runtime.clients import FleetClients
from handlers.runtime.entry import entry_point
from handlers.runtime.events import key, read_event
from handlers.runtime.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

CAUSE_LENGTH = 1000


@dataclass(frozen=True)
class CaughtError:
    """What a state machine Catch passes on (``$.error``)."""

    error: str = key("Error", "Error")
    cause: str = key("Cause", "")


@dataclass(frozen=True, kw_only=True)
class RecordTargetEvent(TargetEvent):
    error: CaughtError | None = None  # the failure path


def handle(event: dict[str, Any], *, env: RecordTargetEnv, clients: FleetClients, now: datetime) -> dict[str, Any]:
    request = read_event(RecordTargetEvent, event)
    target = request.target
    error_text = _error_text(request.error)
    runs = RunTable(clients.dynamodb(), env.table_name)
    guard.authorise(runs, target, execution_id=request.execution_id)
    if request.error:
        _settle_patch_command(target, runs, clients, expires=expires_at(now, env.retention_days))

    finals = []
    for item in runs.instances(target.run_id, target.account_id, target.region):
        final = outcomes.instance_final(item, target_error=error_text)
        finals.append(final)
        if item.get("final") != final:
            runs.record_instance_final(item, final)
    counts = outcomes.tally(finals)
    outcome = outcomes.target_outcome(counts, errored=bool(request.error))
    if request.error:
        status = TargetStatus.ERRORED
    else:
        status = TargetStatus.SKIPPED if counts["total"] == 0 else TargetStatus.COMPLETED
    runs.record_target(
        {
            "pk": run_pk(target.run_id),
            "sk": target_sk(target.wave_index, target.account_id, target.region),
            "waveIndex": target.wave_index,
            "accountId": target.account_id,
            "region": target.region,
            "status": status,
            "outcome": outcome,
            "counts": counts,
            "error": error_text,
            "recordedAt": iso(now),
            "expiresAt": expires_at(now, env.retention_days),
        }
    )
    logger.info(
        "target recorded",
        extra={"accountId": target.account_id, "region": target.region, "status": status, "outcome": outcome, **counts},
    )
    metrics.add_metric(name=f"Targets{outcome}", unit=MetricUnit.Count, value=1)
    return {"status": status, "outcome": outcome}


def _settle_patch_command(target: Target, runs: RunTable, clients: FleetClients, *, expires: int) -> None:
    """A target failed after its patch command was sent (a poll that kept failing, say): record what the
    instances did and cancel what still runs, so nothing keeps patching unwatched and a re-run does not patch
    instances that succeeded. Best effort: the failure is recorded whatever happens here."""
    ledger = runs.ledger_entry(target, PATCH)
    command_id = ledger.get("commandId") if ledger else None
    if not command_id:
        return
    try:
        ssm = clients.spoke(target).ssm()
        if not _has_ended(ssm, command_id):
            invocations.cancel(ssm, command_id)
        invocations.record(ssm, runs, target, command_id, phase=PATCH, expires_at=expires)
    except Exception as failure:
        logger.warning(
            "could not settle the patch command",
            extra={**target.log_keys(), "commandId": command_id, "error": str(failure)},
        )


def _has_ended(ssm: SSMClient, command_id: str) -> bool:
    """Whether the command has ended; if SSM will not say (the failure may be SSM itself), assume it has not."""
    try:
        listed = ssm.list_commands(CommandId=command_id)["Commands"]
    except ClientError:
        return False
    return bool(listed) and listed[0]["Status"] in COMMAND_TERMINAL


def _error_text(error: CaughtError | None) -> str:
    if error is None:
        return ""
    cause = error.cause
    # Lambda errors arrive as a JSON document in Cause; keep the message, not the stack trace.
    with contextlib.suppress(ValueError, AttributeError):
        cause = str(json.loads(cause).get("errorMessage", cause))
    return f"{error.error}: {cause}"[:CAUSE_LENGTH]


lambda_handler = entry_point(handle, RecordTargetEnv)
