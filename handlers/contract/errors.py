"""Typed errors the handlers raise. Their class names are the error names the state machine's Retry and Catch
match on (Lambda reports an unhandled exception as ``errorType`` = class name), so the generator imports these
classes instead of spelling the names again.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of every error a handler raises on purpose."""

    @classmethod
    def error_name(cls) -> str:
        """The name Step Functions sees (``$.error.Error``)."""
        return cls.__name__


# Retried by the state machine with backoff.


class TransientAwsError(OrchestratorError):
    """Throttling or a 5xx from an AWS API that outlasted the SDK's own retries."""


class CommandLedgerBusy(OrchestratorError):
    """Another attempt holds the command ledger entry (its lease has not run out): try again after the lease."""


# Caught and recorded; never retried.


class InvalidRunDocument(OrchestratorError):
    """The run document breaks the schema or a rule; the message names the field."""


class InvalidEvent(OrchestratorError):
    """A handler received an event without a field it needs (a workflow wiring bug)."""


class RunAlreadyExists(OrchestratorError):
    """A run with this id has already been recorded; a second start must not patch again."""


class SpokeAccessDenied(OrchestratorError):
    """The hub could not assume the spoke role (missing role, wrong ExternalId, trust mismatch)."""


class NotThisRun(OrchestratorError):
    """A fleet function was asked to act outside its run: no RUNNING run of the calling execution, a target outside
    the run's stored plan, a wave not approved, a command the run did not send. Nothing was touched."""


class CommandRejected(OrchestratorError):
    """SSM refused to send the command (invalid document, target or parameter)."""


class CommandDeadlineExceeded(OrchestratorError):
    """The command did not finish before the run's deadline; it was cancelled."""


class FailureBudgetExceeded(OrchestratorError):
    """A wave's failed or unreachable share exceeded its budget; later waves must not start."""


class TargetsUnrecorded(OrchestratorError):
    """Some targets of a wave have no record; the wave cannot be judged, so later waves must not start."""


class ApprovalChannelUnsafe(OrchestratorError):
    """Approval links could reach someone other than the approver they name, or no approver at all: none is sent."""


class ApprovalMalformed(OrchestratorError):
    """The approval task was answered with something other than a recorded approval; the wave is not patched."""


class ApprovalRejected(OrchestratorError):
    """An approver rejected the wave (sent by ApprovalDecision as the task's failure); later waves must not start."""


class ApprovalTimedOut(OrchestratorError):
    """Nobody decided before the wave's approval timed out; the run halts before patching the wave."""


RETRYABLE = (TransientAwsError, CommandLedgerBusy)
HALTING = (FailureBudgetExceeded, TargetsUnrecorded, ApprovalRejected, ApprovalTimedOut)
ALL_ERRORS = (
    TransientAwsError,
    CommandLedgerBusy,
    InvalidRunDocument,
    InvalidEvent,
    RunAlreadyExists,
    SpokeAccessDenied,
    NotThisRun,
    CommandRejected,
    CommandDeadlineExceeded,
    FailureBudgetExceeded,
    TargetsUnrecorded,
    ApprovalChannelUnsafe,
    ApprovalMalformed,
    ApprovalRejected,
    ApprovalTimedOut,
)
