"""The handlers' own writes to the run table, named: each ``UpdateItem`` an ``Update`` spec (as the workflow's
are in handlers/contract/table.py), each conditional ``PutItem`` a ``Put`` spec. Only the repository executes
them, binding a value to every placeholder (``check_bound``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from handlers.contract.conventions import PHASES, SNAPSHOT
from handlers.contract.table import Update

_STATUS = {"#status": "status"}


def assignments(*attributes: str) -> Update:
    """``SET #a = :a, #b = :b``: set these attributes, creating the item if absent, leaving others alone."""
    return Update(
        "SET " + ", ".join(f"#{name} = :{name}" for name in attributes),
        names={f"#{name}": name for name in attributes},
    )


@dataclass(frozen=True)
class Put:
    """A conditional ``PutItem``: its condition and attribute names; the caller binds every ``:placeholder``."""

    condition: str
    names: Mapping[str, str] = field(default_factory=dict)

    def placeholders(self) -> frozenset[str]:
        return frozenset(re.findall(r":[A-Za-z]\w*", self.condition))

    def check_bound(self, values: Mapping[str, object]) -> None:
        """Refuse values that leave a placeholder unbound or bind one the condition does not use."""
        missing, extra = self.placeholders() - set(values), set(values) - self.placeholders()
        if missing or extra:
            raise ValueError(f"{self.condition!r}: unbound {sorted(missing)}, unused {sorted(extra)}")


# Runs ------------------------------------------------------------------------------------------------------------

# Once per run id; the same execution may write it again after a crash.
RUN_CREATED = Put("attribute_not_exists(pk) OR executionId = :execution")
# Finalize's verdict (it always runs last, so nothing is conditional).
RUN_FINISHED = Update(
    "SET #status = :status, outcome = :outcome, reason = :reason, endedAt = :now, reportPrefix = :prefix",
    names=_STATUS,
)
# CancelRun closes a run nothing else closed (Finalize did not run).
RUN_CLOSED_ON_STOP = Update(
    "SET #status = :status, outcome = :outcome, reason = :reason, endedAt = :now",
    condition="#status = :running",
    names=_STATUS,
)

# Waves -----------------------------------------------------------------------------------------------------------

# An update, not a put: the wave's approval (who approved it, when) is already in the item.
WAVE_EVALUATED = assignments(
    "waveIndex", "name", "status", "outcome", "counts", "targets", "failedPercent", "unreachablePercent",
    "failureBudget", "reason", "evaluatedAt", "expiresAt",
)  # fmt: skip
WAVE_APPROVAL_REQUESTED = assignments("approval", "waveIndex", "name", "expiresAt")

# Command ledger --------------------------------------------------------------------------------------------------

LEDGER_RESERVED = Put("attribute_not_exists(pk)")
# Only from the holder whose lease ran out, and only while no command is recorded.
LEDGER_TAKEN_OVER = Update(
    "SET holder = :me, leaseUntil = :until", condition="holder = :previous AND attribute_not_exists(commandId)"
)
LEDGER_SENT = Update(
    "SET commandId = :id, #status = :sent, sentAt = if_not_exists(sentAt, :now), deadline = :deadline",
    condition="attribute_not_exists(commandId) OR commandId = :id",
    names=_STATUS,
)
LEDGER_CANCELLED = Update("SET cancelledAt = :now")

# Instances -------------------------------------------------------------------------------------------------------

# One instance's result of a phase (the item is created if Discover missed the instance).
INSTANCE_RESULT = {
    phase: Update(
        "SET #phase = :result, waveIndex = :wave, accountId = :account, #region = :region, "
        "instanceId = :instance, expiresAt = if_not_exists(expiresAt, :expires)",
        names={"#phase": phase, "#region": "region"},
    )
    for phase in PHASES
}
# Written last when a snapshot is stored: it is what marks the instance as done for a retry.
INSTANCE_SNAPSHOT_STORED = Update("SET #phase.#prefix = :prefix", names={"#phase": SNAPSHOT, "#prefix": "s3Prefix"})
INSTANCE_FINAL = Update("SET #final = :final", names={"#final": "final"})

# Approvals -------------------------------------------------------------------------------------------------------

# A new approval, or the same task's retried request while it is still pending.
APPROVAL_REQUESTED = Put("attribute_not_exists(pk) OR (tokenDigest = :digest AND #status = :pending)", names=_STATUS)
# One approver's approval of a pending approval, once per approver (``approvedBy`` is a string set): the approval
# is decided only when ``minimumApprovers`` distinct approvers have voted (APPROVAL_QUORUM_CLAIMED).
_PENDING_FOR = "#status = :pending AND linkExpiresAt > :now AND contains(approvers, :by)"
APPROVAL_VOTED = Update(
    "ADD approvedBy :voter SET votes = list_append(if_not_exists(votes, :none), :vote)",
    condition=f"{_PENDING_FOR} AND NOT contains(approvedBy, :by)",
    names=_STATUS,
)
_CLAIM = (
    "SET #status = :decided, decision = :decision, decidedBy = :by, decidedAt = :at, "
    "sourceIp = :ip, userAgent = :agent, delivered = :false"
)
# PENDING -> DECIDED (rejected), once: one approver's rejection is enough. The recipient check is belt and braces:
# links are only signed for the wave's approvers.
APPROVAL_CLAIMED = Update(_CLAIM, condition=_PENDING_FOR, names=_STATUS)
# PENDING -> DECIDED (approved), once, by the approver whose vote made the quorum.
APPROVAL_QUORUM_CLAIMED = Update(
    _CLAIM,
    condition=f"{_PENDING_FOR} AND contains(approvedBy, :by) AND size(approvedBy) >= minimumApprovers",
    names=_STATUS,
)
# The decision reached the workflow: settled whatever else happened; the token's job is over.
APPROVAL_DELIVERED = Update(
    "SET #status = :status, delivered = :delivered, deliveryError = :reason REMOVE taskToken", names=_STATUS
)
# Any other last state: only while the token is there and no attempt has confirmed the decision.
APPROVAL_SETTLED = Update(
    APPROVAL_DELIVERED.expression, condition="attribute_exists(taskToken) AND delivered = :false", names=_STATUS
)
# Undo an attempt's own claim (nothing reached the workflow) so the link can decide again.
APPROVAL_REOPENED = Update(
    "SET #status = :pending REMOVE decision, decidedBy, decidedAt, sourceIp, userAgent, delivered",
    condition="#status = :decided AND delivered = :false AND decidedAt = :at AND decidedBy = :by",
    names=_STATUS,
)
