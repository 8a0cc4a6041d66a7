"""The run records the state machine writes itself, bound to the run-table contract (``handlers.contract.table``).

Keys, expressions, attribute names and statuses all come from the contract, so a handler and the workflow
cannot disagree on a record's shape; ``dynamodb_update_item`` refuses values that miss or add a placeholder.
"""

from __future__ import annotations

from typing import Any

from generator.asl.states import Catch, Task
from generator.asl.tasks import TableTarget, dynamodb_update_item
from handlers.contract import table
from handlers.contract.table import Outcome, RunStatus, WaveApprovalStatus, WaveStatus

__all__ = ["record_approval", "record_approval_rejected", "record_approval_timed_out", "record_run_failed"]


def record_run_failed(run_table: TableTarget, *, catch: tuple[Catch, ...]) -> Task:
    """RecordRunFailed: Finalize itself failed, so the run record is closed without it."""
    return dynamodb_update_item(
        "RecordRunFailed",
        run_table,
        key=_run_key("$$.Execution.Name", {"S": table.META}),
        update=table.RUN_FAILED,
        values={
            ":failed": {"S": RunStatus.FAILED},
            ":outcome": {"N": str(int(Outcome.FAILED))},
            ":reason": {"S.$": "$.error.Cause"},
            ":now": {"S.$": "$$.State.EnteredTime"},
        },
        comment="Finalize failed: mark the run record failed directly (no Lambda involved), then fail.",
        catch=catch,
    )


def record_approval(run_table: TableTarget, *, decision: str, catch: tuple[Catch, ...]) -> Task:
    """RecordApproval: who approved the wave, when and from where, as ApprovalDecision recorded it (``decision``:
    the path of the approval item the workflow read, in DynamoDB's typed form)."""
    return _wave_update(
        "RecordApproval",
        run_table,
        table.WAVE_APPROVED,
        {
            ":status": {"S": WaveApprovalStatus.APPROVED},
            ":by": {"S.$": f"{decision}.decidedBy.S"},
            ":at": {"S.$": f"{decision}.decidedAt.S"},
            ":ip": {"S.$": f"{decision}.sourceIp.S"},
            ":agent": {"S.$": f"{decision}.userAgent.S"},
            ":approvers": {"SS.$": f"{decision}.approvedBy.SS"},
        },
        comment="Who approved, when and from where, in the run record before any target is touched.",
        catch=catch,
    )


def record_approval_rejected(run_table: TableTarget, *, catch: tuple[Catch, ...]) -> Task:
    """RecordApprovalRejected: the wave halted, with the rejection (``$.rejection.Cause``) as its reason."""
    return _wave_update(
        "RecordApprovalRejected",
        run_table,
        table.WAVE_REJECTED,
        {
            ":halted": {"S": WaveStatus.HALTED},
            ":reason": {"S.$": "States.Format('wave {} {}', $.wave.name, $.rejection.Cause)"},
            ":status": {"S": WaveApprovalStatus.REJECTED},
            ":detail": {"S.$": "$.rejection.Cause"},
        },
        catch=catch,
    )


def record_approval_timed_out(run_table: TableTarget, *, catch: tuple[Catch, ...]) -> Task:
    """RecordApprovalTimedOut: the wave halted because nobody decided within its approval timeout."""
    return _wave_update(
        "RecordApprovalTimedOut",
        run_table,
        table.WAVE_APPROVAL_TIMED_OUT,
        {
            ":halted": {"S": WaveStatus.HALTED},
            ":reason": {
                "S.$": "States.Format('wave {} was not approved within {} minutes', $.wave.name, "
                "$.wave.approval.timeoutMinutes)"
            },
            ":status": {"S": WaveApprovalStatus.TIMED_OUT},
            ":at": {"S.$": "$$.State.EnteredTime"},
        },
        catch=catch,
    )


def _wave_update(
    name: str,
    run_table: TableTarget,
    update: table.Update,
    values: dict[str, Any],
    *,
    catch: tuple[Catch, ...],
    comment: str | None = None,
) -> Task:
    # The run document carries each wave's sort key (table.wave_sk), so the workflow never formats one.
    return dynamodb_update_item(
        name,
        run_table,
        key=_run_key("$.runId", {"S.$": "$.wave.recordKey"}),
        update=update,
        values=values,
        catch=catch,
        comment=comment,
    )


def _run_key(run_id_path: str, sort_key: dict[str, str]) -> dict[str, Any]:
    return {
        table.PARTITION_KEY: {"S.$": f"States.Format('{table.RUN_PK_FORMAT}', {run_id_path})"},
        table.SORT_KEY: sort_key,
    }
