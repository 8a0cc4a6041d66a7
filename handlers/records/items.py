"""The run table's items as typed records: what each handler writes and reads (see handlers/contract/table.py).

TypedDicts, because an item is a plain mapping on both sides (DynamoDB, reports, pages): the types say which
attributes an item has. Statuses are the enums of ``handlers.contract.table`` when written and their plain
string values when read back. Most attributes are optional: items are written in steps by several functions.
"""

from __future__ import annotations

from typing import Any, NotRequired, Required, TypedDict


class Counts(TypedDict):
    """How a target's, wave's or run's instances ended."""

    succeeded: int
    failed: int
    unreachable: int
    notPatched: int
    total: int


class RunRecord(TypedDict, total=False):
    """``RUN#<runId>`` / ``META``: the run."""

    pk: Required[str]
    sk: Required[str]
    runId: str
    executionId: str
    rerunOf: str
    status: str
    documentDigest: str
    operation: str
    rebootOption: str
    waveCount: int
    targetCount: int
    plan: str  # the normalised run as JSON: lets Finalize report waves that never started
    document: str  # the run document as JSON: lets operators re-run
    startedAt: str
    expiresAt: int
    outcome: int
    reason: str
    endedAt: str
    reportPrefix: str


class WaveApproval(TypedDict, total=False):
    """A wave's approval as the run record keeps it (RequestApproval, then the workflow itself)."""

    status: str
    approvalId: str
    tokenDigest: str
    approvers: list[str]
    unreachableApprovers: list[str]
    minimumApprovers: int
    requestedAt: str
    expires: int
    expiresAt: str
    approvedBy: list[str]  # every approver whose approval counted (decidedBy made the quorum)
    decidedBy: str
    decidedAt: str
    sourceIp: str
    userAgent: str
    detail: str


class WaveTargets(TypedDict):
    expected: int
    recorded: int
    erroredBlind: int


class WaveRecord(TypedDict, total=False):
    """``RUN#<runId>`` / ``WAVE#<nn>``: one wave, its evaluation and its approval."""

    pk: Required[str]
    sk: Required[str]
    waveIndex: int
    name: str
    status: str
    outcome: int
    counts: Counts
    targets: WaveTargets
    failedPercent: float
    unreachablePercent: float
    failureBudget: dict[str, Any]
    reason: str
    evaluatedAt: str
    expiresAt: int
    approval: WaveApproval


class TargetRecord(TypedDict):
    """``RUN#<runId>`` / ``TARGET#<nn>#<account>#<region>``: one account x region, once closed."""

    pk: str
    sk: str
    waveIndex: int
    accountId: str
    region: str
    status: str
    outcome: int
    counts: Counts
    error: str
    recordedAt: NotRequired[str]
    expiresAt: NotRequired[int]


class LedgerEntry(TypedDict, total=False):
    """``RUN#<runId>`` / ``CMD#<nn>#<account>#<region>#<phase>``: the command ledger of one target and phase."""

    pk: Required[str]
    sk: Required[str]
    status: str
    token: str
    waveIndex: int
    reservedAt: str
    holder: str
    leaseUntil: str
    expiresAt: int
    commandId: str
    sentAt: str
    deadline: str
    cancelledAt: str


class Discovery(TypedDict):
    reachable: bool
    reason: str
    state: str


class PhaseResult(TypedDict):
    """How one instance ended one phase's command."""

    commandId: str
    status: str
    statusDetails: str
    responseCode: int
    reason: str


class SnapshotResult(PhaseResult, total=False):
    s3Prefix: str  # where StoreSnapshots put its files (also what marks it stored)


class FinalState(TypedDict):
    status: str
    reason: str


class InstanceRecord(TypedDict, total=False):
    """``RUN#<runId>`` / ``INSTANCE#<account>#<region>#<instance>``: one instance, every phase."""

    pk: Required[str]
    sk: Required[str]
    waveIndex: int
    accountId: str
    region: str
    instanceId: str
    platform: str
    name: str
    discovery: Discovery
    discoveredAt: str
    expiresAt: int
    snapshot: SnapshotResult
    patch: PhaseResult
    final: FinalState


class RerunSelection(TypedDict):
    """``RUN#<runId>`` / ``RERUN#<account>#<region>``: the instances a re-run patches there."""

    pk: str
    sk: str
    rerunOf: str
    instanceIds: list[str]
    expiresAt: int


class ApprovalVote(TypedDict):
    """One approver's approval of a wave that needs several: who, when, from where."""

    by: str
    at: str
    sourceIp: str
    userAgent: str


class ApprovalRecord(TypedDict, total=False):
    """``APPROVAL#<id>`` / ``META``: the server-side half of an approval link (see handlers/domain/approvals.py)."""

    pk: Required[str]
    sk: Required[str]
    approvalId: str
    runId: str
    waveIndex: int
    waveName: str
    status: str
    taskToken: str  # never leaves the hub; removed once delivered
    tokenDigest: str
    approvers: list[str]
    minimumApprovers: int  # how many distinct approvers must approve (the hub's MinimumApprovers when requested)
    approvedBy: list[str]  # who has approved so far (a string set in the table)
    votes: list[ApprovalVote]
    requestedAt: str
    linkExpiresAt: int
    plan: dict[str, Any]
    expiresAt: int
    decision: str
    decidedBy: str
    decidedAt: str
    sourceIp: str
    userAgent: str
    delivered: bool | None
    deliveryError: str
