"""A wave's approval: ask its approvers, check the answer, record the decision; a refusal halts the run.

A wave that requires approval waits for it first (RequestApproval, a callback task bounded by the wave's own
timeout). Approved: recorded, the wave proceeds. Rejected or timed out: recorded, and the wave halts the run
before any of its targets is touched.
"""

from __future__ import annotations

from generator.asl.chain import Chain, branch, chain
from generator.asl.states import Catch, Condition, Fail, Pass, State
from generator.asl.tasks import FunctionTarget, TableTarget, dynamodb_get_item, lambda_invoke_wait_for_token
from generator.asl.workflow.invoke import ON_ANY_ERROR, TRANSIENT_AWS_RETRY
from generator.asl.workflow.records import record_approval, record_approval_rejected, record_approval_timed_out
from handlers.contract import errors, table
from handlers.contract.table import ApprovalStatus, Decision

__all__ = ["wave_approval"]


def wave_approval(request: FunctionTarget, run_table: TableTarget, *, halt: State) -> Chain:
    """ApprovalRequired? -> RequestApproval -> the recorded decision checked -> RecordApproval, open at
    ApprovalRequired (no approval needed) and RecordApproval. An error that is not a refusal, or an approval that
    cannot be recorded, goes to ``halt``."""
    request_approval = lambda_invoke_wait_for_token(
        "RequestApproval",
        request,
        payload={"runId.$": "$.runId", "wave.$": "$.wave", "settings.$": "$.settings"},
        timeout_seconds_path="$.wave.approval.timeoutSeconds",
        # The answer itself is discarded: only what ApprovalDecision recorded counts (below).
        result_path=None,
        # A retried invocation with the same token reuses the approval it opened (same id, same links).
        retry=(TRANSIENT_AWS_RETRY,),
        comment="Emails signed links to the wave's approvers; ApprovalDecision answers with the decision.",
        catch=(
            Catch((errors.ApprovalRejected.error_name(),), _rejected(run_table), result_path="$.rejection"),
            Catch(("States.Timeout",), _timed_out(run_table), result_path="$.timeout"),
            Catch(ON_ANY_ERROR, halt),
        ),
    )
    return branch(
        "ApprovalRequired",
        [
            (
                Condition.compare("$.wave.approval.required", "BooleanEquals", True),
                chain(request_approval, _verified(run_table, halt=halt)),
            )
        ],
    )


def _verified(run_table: TableTarget, *, halt: State) -> Chain:
    """FindApproval -> ApprovalOpened? -> ReadDecision -> DecisionRecorded? -> CountApprovers -> QuorumReached? ->
    RecordApproval.

    The callback's answer is ignored: anyone who reads the task token in the execution history and may call
    ``states:SendTaskSuccess`` can answer the wait with anything. The wave proceeds only on what ApprovalDecision
    recorded (nobody else may write approvals): the approval RequestApproval opened for this wave, DECIDED and
    APPROVED, for this run, by at least the wave's minimum of distinct approvers. Otherwise the wave halts, nothing
    patched."""
    find = dynamodb_get_item(
        "FindApproval",
        run_table,
        key=_key(f"States.Format('{table.RUN_PK_FORMAT}', $.runId)", {"S.$": "$.wave.recordKey"}),
        attributes=table.WAVE_APPROVAL_ATTRIBUTES,
        grant="ReadWaveApprovals",
        partitions=(table.run_pk("*"),),
        result_path="$.opened",
        comment="The approval RequestApproval opened for this wave (it writes the wave record before any link).",
        catch=(Catch(ON_ANY_ERROR, halt),),
    )
    approval_id = "$.opened.Item.approval.M.approvalId.S"
    read = dynamodb_get_item(
        "ReadDecision",
        run_table,
        key=_key(f"States.Format('{table.APPROVAL_PREFIX}{{}}', {approval_id})", {"S": table.META}),
        attributes=table.APPROVAL_DECISION_ATTRIBUTES,
        grant="ReadApprovalDecisions",
        partitions=(table.approval_pk("*"),),
        result_path="$.decision",
        comment="What ApprovalDecision recorded (never the task token: the role may read only these attributes).",
        catch=(Catch(ON_ANY_ERROR, halt),),
    )
    unopened = Fail(
        "ApprovalNotOpened",
        error=errors.ApprovalMalformed.error_name(),
        cause="The approval wait was answered before RequestApproval opened an approval; the wave was not patched.",
    )
    explain = Pass(
        "ExplainUnrecordedDecision",
        parameters={
            "cause.$": "States.Format('The approval wait was answered, but approval {} holds no approving decision "
            "for this run (only ApprovalDecision records one); the wave was not patched.', " + approval_id + ")"
        },
        result_path="$.unrecorded",
    )
    unrecorded = Fail(
        "ApprovalNotRecorded", error=errors.ApprovalMalformed.error_name(), cause_path="$.unrecorded.cause"
    )
    item = "$.decision.Item"
    recorded = Condition.all_of(
        *(
            Condition.compare(f"{item}.{name}.S", "IsPresent", True)
            for name in ("status", "decision", "runId", "decidedBy", "decidedAt", "sourceIp", "userAgent")
        ),
        Condition.compare(f"{item}.approvedBy.SS", "IsPresent", True),
        Condition.compare(f"{item}.status.S", "StringEquals", ApprovalStatus.DECIDED),
        Condition.compare(f"{item}.decision.S", "StringEquals", Decision.APPROVED),
        Condition.compare(f"{item}.runId.S", "StringEqualsPath", "$.runId"),
    )
    # The quorum, counted here too: the wave's minimum comes from the run as ValidateRun normalised it under the
    # hub's policy, not from the approval item.
    count = Pass(
        "CountApprovers",
        parameters={"approvers.$": f"States.ArrayLength({item}.approvedBy.SS)"},
        result_path="$.quorum",
    )
    short = Pass(
        "ExplainMissingApprovers",
        parameters={
            "cause.$": "States.Format('Approval {} was decided by {} approvers; the wave needs {}. The wave was not "
            "patched.', " + approval_id + ", $.quorum.approvers, $.wave.approval.minimumApprovers)"
        },
        result_path="$.unrecorded",
    )
    too_few = Fail("ApprovalQuorumNotMet", error=errors.ApprovalMalformed.error_name(), cause_path="$.unrecorded.cause")
    return chain(
        find,
        branch("ApprovalOpened", [(Condition.compare(approval_id, "IsPresent", False), unopened)]),
        read,
        branch("DecisionRecorded", [(Condition.negate(recorded), chain(explain, unrecorded))]),
        count,
        branch(
            "QuorumReached",
            [
                (
                    Condition.compare("$.quorum.approvers", "NumericLessThanPath", "$.wave.approval.minimumApprovers"),
                    chain(short, too_few),
                )
            ],
        ),
        # An approval that cannot be recorded in the run is not acted on.
        record_approval(run_table, decision=item, catch=(Catch(ON_ANY_ERROR, halt),)),
    )


def _key(partition: str, sort_key: dict[str, str]) -> dict[str, object]:
    return {table.PARTITION_KEY: {"S.$": partition}, table.SORT_KEY: sort_key}


def _rejected(run_table: TableTarget) -> Chain:
    """RejectionExplained? -> RecordApprovalRejected -> WaveRejected (the wave HALTED, with the reason)."""
    rejected = Fail("WaveRejected", error=errors.ApprovalRejected.error_name(), cause="An approver rejected the wave.")
    # The cause is "rejected by <who> at <when> from <ip>" (plain text: nothing to parse, so nothing that could fail
    # the run where no Catch reaches). Without one the wave still halts, unrecorded.
    explained = Condition.all_of(
        Condition.compare("$.rejection.Cause", "IsPresent", True),
        Condition.compare("$.rejection.Cause", "IsString", True),
    )
    record = record_approval_rejected(run_table, catch=(Catch(ON_ANY_ERROR, rejected, result_path=None),))
    return branch("RejectionExplained", [(explained, chain(record, rejected))], otherwise=rejected)


def _timed_out(run_table: TableTarget) -> Chain:
    """RecordApprovalTimedOut -> WaveNotApproved (the wave HALTED: nobody decided in time)."""
    timed_out = Fail(
        "WaveNotApproved",
        error=errors.ApprovalTimedOut.error_name(),
        cause="Nobody decided before the wave's approval timed out.",
    )
    record = record_approval_timed_out(run_table, catch=(Catch(ON_ANY_ERROR, timed_out, result_path=None),))
    return chain(record, timed_out)
