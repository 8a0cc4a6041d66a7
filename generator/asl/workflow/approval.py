"""A wave's approval: ask its approvers, check the answer, record the decision; a refusal halts the run.

A wave that requires approval waits for it first (RequestApproval, a callback task bounded by the wave's own
timeout). Approved: recorded, the wave proceeds. Rejected or timed out: recorded, and the wave halts the run
before any of its targets is touched.
"""

from __future__ import annotations

from generator.asl.chain import Chain, branch, chain
from generator.asl.states import Catch, Condition, Fail, State
from generator.asl.tasks import FunctionTarget, TableTarget, lambda_invoke_wait_for_token
from generator.asl.workflow.invoke import ON_ANY_ERROR, TRANSIENT_AWS_RETRY
from generator.asl.workflow.records import record_approval, record_approval_rejected, record_approval_timed_out
from handlers.contract import errors
from handlers.contract.table import Decision

__all__ = ["wave_approval"]

_DECISION_FIELDS = ("decidedBy", "decidedAt", "sourceIp", "userAgent")


def wave_approval(request: FunctionTarget, run_table: TableTarget, *, halt: State) -> Chain:
    """ApprovalRequired? -> RequestApproval -> checks -> RecordApproval, open at ApprovalRequired (no approval
    needed) and RecordApproval. An error that is not a refusal, or an approval that cannot be recorded, goes to
    ``halt``."""
    request_approval = lambda_invoke_wait_for_token(
        "RequestApproval",
        request,
        payload={"runId.$": "$.runId", "wave.$": "$.wave", "settings.$": "$.settings"},
        timeout_seconds_path="$.wave.approval.timeoutSeconds",
        result_path="$.approval",
        # A retried invocation with the same token reuses the approval it opened (same id, same links).
        retry=(TRANSIENT_AWS_RETRY,),
        comment="Emails signed links to the wave's approvers; ApprovalDecision answers with the decision.",
        catch=(
            Catch((errors.ApprovalRejected.error_name(),), _rejected(run_table), result_path="$.rejection"),
            Catch(("States.Timeout",), _timed_out(run_table), result_path="$.timeout"),
            Catch(ON_ANY_ERROR, halt),
        ),
    )
    # Only ApprovalDecision answers, but anyone holding the token and SendTaskSuccess could: an answer that is not
    # a recorded approval must halt the wave, not fail the run where no Catch reaches (a missing path in a task's
    # parameters is States.Runtime, which no Catch handles).
    complete = Condition.all_of(
        *(Condition.compare(f"$.approval.{name}", "IsPresent", True) for name in (*_DECISION_FIELDS, "decision"))
    )
    approved = Condition.all_of(
        Condition.compare("$.approval.decision", "StringEquals", Decision.APPROVED),
        *(Condition.compare(f"$.approval.{name}", "IsString", True) for name in _DECISION_FIELDS),
    )
    unrecognised = Fail(
        "ApprovalUnrecognised",
        error=errors.ApprovalMalformed.error_name(),
        cause="The approval callback carried no recorded decision; the wave was not patched.",
    )
    approval = chain(
        request_approval,
        branch("ApprovalComplete", [(Condition.negate(complete), unrecognised)]),
        branch("ApprovalGranted", [(Condition.negate(approved), unrecognised)]),
        # An approval that cannot be recorded is not acted on.
        record_approval(run_table, catch=(Catch(ON_ANY_ERROR, halt),)),
    )
    return branch(
        "ApprovalRequired", [(Condition.compare("$.wave.approval.required", "BooleanEquals", True), approval)]
    )


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
