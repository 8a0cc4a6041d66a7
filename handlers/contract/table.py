"""The run table's keys, statuses and attribute names: written by handlers, and by the workflow itself.

| pk              | sk                                      | item                          |
| RUN#<runId>     | META                                    | the run                       |
| RUN#<runId>     | WAVE#<nn>                               | one wave (and its approval)   |
| RUN#<runId>     | TARGET#<nn>#<account>#<region>          | one account x region target   |
| RUN#<runId>     | CMD#<nn>#<account>#<region>#<phase>     | command ledger                |
| RUN#<runId>     | INSTANCE#<account>#<region>#<instance>  | one instance, every phase     |
| RUN#<runId>     | RERUN#<account>#<region>                | a re-run's instances there    |
| APPROVAL#<id>   | META                                    | an approval (holds the token) |

The generator uses the partition prefixes for ``dynamodb:LeadingKeys`` conditions and the formats below for the
state machine's own DynamoDB tasks, so a key shape changes here or nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

PARTITION_KEY = "pk"
SORT_KEY = "sk"
# Items expire through this attribute (epoch seconds). TTL deletes lazily, so code also checks expiry itself.
TTL_ATTRIBUTE = "expiresAt"

RUN_PREFIX = "RUN#"
APPROVAL_PREFIX = "APPROVAL#"
META = "META"
WAVE_PREFIX = "WAVE#"
TARGET_PREFIX = "TARGET#"
COMMAND_PREFIX = "CMD#"
INSTANCE_PREFIX = "INSTANCE#"
RERUN_PREFIX = "RERUN#"

# For ``States.Format`` in the workflow's own DynamoDB tasks: ``States.Format('RUN#{}', $.runId)``.
RUN_PK_FORMAT = RUN_PREFIX + "{}"


def run_pk(run_id: str) -> str:
    return RUN_PREFIX + run_id


def approval_pk(approval_id: str) -> str:
    return APPROVAL_PREFIX + approval_id


def wave_sk(wave_index: int) -> str:
    """A wave's sort key: written by handlers and, for approvals, by the workflow (the run document carries it)."""
    return f"{WAVE_PREFIX}{wave_index:02d}"


def target_sk(wave_index: int, account_id: str, region: str) -> str:
    return f"{TARGET_PREFIX}{wave_index:02d}#{account_id}#{region}"


def wave_targets_prefix(wave_index: int) -> str:
    """The sort-key prefix of one wave's targets."""
    return f"{TARGET_PREFIX}{wave_index:02d}#"


def command_sk(wave_index: int, account_id: str, region: str, phase: str) -> str:
    return f"{COMMAND_PREFIX}{wave_index:02d}#{account_id}#{region}#{phase}"


def instance_sk(account_id: str, region: str, instance_id: str = "") -> str:
    """An instance's sort key; with no ``instance_id``, the prefix of a target's instances."""
    return f"{INSTANCE_PREFIX}{account_id}#{region}#{instance_id}"


def rerun_sk(account_id: str, region: str) -> str:
    """Which instances a re-run patches in one account and region."""
    return f"{RERUN_PREFIX}{account_id}#{region}"


class Outcome(IntEnum):
    """A target's, wave's or run's outcome, as HTTP says it: all patched, some patched, none (or the run failed)."""

    OK = 200
    PARTIAL = 206
    FAILED = 500


class RunStatus(StrEnum):
    """A run's ``META.status``. ABORTED and TIMED_OUT come from the execution itself (CancelRun records them)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    HALTED = "HALTED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    TIMED_OUT = "TIMED_OUT"


class WaveStatus(StrEnum):
    COMPLETED = "COMPLETED"
    HALTED = "HALTED"


class TargetStatus(StrEnum):
    COMPLETED = "COMPLETED"
    SKIPPED = "SKIPPED"
    ERRORED = "ERRORED"


class LedgerStatus(StrEnum):
    """A command ledger entry: reserved before SendCommand, sent once the CommandId is recorded."""

    RESERVED = "RESERVED"
    SENT = "SENT"


class WaveApprovalStatus(StrEnum):
    """A wave's ``approval.status`` in the run record (the workflow writes the last three itself)."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"


class ApprovalStatus(StrEnum):
    """An approval item: PENDING until decided once; UNDELIVERED if the workflow had stopped waiting."""

    PENDING = "PENDING"
    DECIDED = "DECIDED"
    UNDELIVERED = "UNDELIVERED"


class Decision(StrEnum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


# What the workflow reads of an approval to check that the callback it got is a decision ApprovalDecision recorded
# (anyone with the task token and states:SendTaskSuccess could answer the wait): never the token.
APPROVAL_DECISION_ATTRIBUTES = (
    "runId", "waveIndex", "status", "decision", "decidedBy", "decidedAt", "sourceIp", "userAgent", "approvedBy",
)  # fmt: skip
# What the workflow reads of a wave record to find the approval RequestApproval opened for it.
WAVE_APPROVAL_ATTRIBUTES = ("approval",)

# What the approval page may read of an approval item (its role is limited to these): everything but the token.
APPROVAL_PAGE_ATTRIBUTES = (
    "pk", "sk", "approvalId", "runId", "waveIndex", "waveName", "status", "approvers", "requestedAt",
    "linkExpiresAt", "plan", "decision", "decidedBy", "decidedAt", "delivered", "minimumApprovers", "approvedBy",
)  # fmt: skip


@dataclass(frozen=True)
class Update:
    """A named ``UpdateItem``: its update and condition expressions and attribute names. The caller binds a value
    to each ``:placeholder`` (``placeholders()``), whether it is a handler or a state machine task."""

    expression: str
    condition: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)

    def placeholders(self) -> frozenset[str]:
        """Every ``:value`` the expressions use: exactly what a caller must bind."""
        return frozenset(re.findall(r":[A-Za-z]\w*", f"{self.expression} {self.condition or ''}"))

    def check_bound(self, values: Mapping[str, object]) -> None:
        """Refuse values that leave a placeholder unbound or bind one the expressions do not use."""
        missing, extra = self.placeholders() - set(values), set(values) - self.placeholders()
        if missing or extra:
            raise ValueError(f"{self.expression!r}: unbound {sorted(missing)}, unused {sorted(extra)}")


_STATUS = {"#status": "status"}

# The updates the workflow makes itself (state machine DynamoDB tasks, no Lambda in between).
RUN_FAILED = Update(
    "SET #status = :failed, outcome = :outcome, reason = :reason, endedAt = :now",
    condition="attribute_exists(pk)",
    names=_STATUS,
)
# A wave's approval outcome: the wave item exists and holds the approval (RequestApproval wrote it first).
WAVE_APPROVED = Update(
    "SET approval.#status = :status, approval.decidedBy = :by, approval.decidedAt = :at, "
    "approval.sourceIp = :ip, approval.userAgent = :agent, approval.approvedBy = :approvers",
    condition="attribute_exists(approval)",
    names=_STATUS,
)
WAVE_REJECTED = Update(
    "SET #status = :halted, reason = :reason, approval.#status = :status, approval.detail = :detail",
    condition="attribute_exists(approval)",
    names=_STATUS,
)
WAVE_APPROVAL_TIMED_OUT = Update(
    "SET #status = :halted, reason = :reason, approval.#status = :status, approval.decidedAt = :at",
    condition="attribute_exists(approval)",
    names=_STATUS,
)
