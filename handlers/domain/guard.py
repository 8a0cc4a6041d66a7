"""Whether a fleet function's event belongs to its run, and what the run's stored plan lets it do.

Anyone who may invoke a fleet function (``lambda:InvokeFunction``) can hand it any event. So before touching an
instance, a spoke or a record, each checks the event against what ValidateRun recorded: a RUNNING run started by
the calling execution, a wave of its plan, a target (account, region) of that wave, and an approval recorded by
the workflow when the wave needs one. Everything a command depends on (document parameters, rollout, selector,
re-run) then comes from the stored plan, never from the event. A refusal is ``NotThisRun`` naming the reason;
nothing has been touched when it is raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from handlers.contract.errors import NotThisRun
from handlers.contract.table import ApprovalStatus, Decision, RunStatus, WaveApprovalStatus
from handlers.domain.target import Selector, Target

if TYPE_CHECKING:
    from handlers.records.repository import RunTable


@dataclass(frozen=True)
class PlannedWave:
    """The event's wave as the stored plan has it."""

    index: int
    name: str
    max_concurrency: str
    max_errors: str


@dataclass(frozen=True)
class RunPlan:
    """What the stored plan says a fleet function may do for one target."""

    run_id: str
    operation: str
    reboot_option: str
    snapshot_id: str
    selector: Selector
    pre_collect: bool
    patch_timeout_minutes: int
    expected_patch_minutes_per_instance: float
    rerun_of: str
    wave: PlannedWave


def authorise(runs: RunTable, target: Target, *, execution_id: str) -> RunPlan:
    """The plan for ``target`` if the event belongs to a RUNNING run of ``execution_id``; else ``NotThisRun``."""
    run_id = target.run_id
    run = runs.get_run(run_id)
    if run is None:
        raise NotThisRun(f"run {run_id!r}: no such run is recorded")
    if run.get("status") != RunStatus.RUNNING:
        raise NotThisRun(f"run {run_id!r} is {run.get('status')}, not RUNNING")
    if not execution_id or run.get("executionId") != execution_id:
        raise NotThisRun(f"run {run_id!r} was not started by execution {execution_id!r}")
    plan: dict[str, Any] = json.loads(run["plan"])
    waves = plan["waves"]
    if not 0 <= target.wave_index < len(waves):
        raise NotThisRun(f"run {run_id!r} has no wave {target.wave_index} ({len(waves)} planned)")
    wave = waves[target.wave_index]
    if not _targets(wave, target.account_id, target.region):
        raise NotThisRun(f"{target.account_id}/{target.region} is not a target of wave {wave['name']!r} of {run_id!r}")
    if wave["approval"]["required"]:
        _check_approved(runs, run_id, target.wave_index, wave)
    settings = plan["settings"]
    return RunPlan(
        run_id=run_id,
        operation=settings["operation"],
        reboot_option=settings["rebootOption"],
        snapshot_id=settings["snapshotId"],
        selector=Selector({key: tuple(values) for key, values in settings["selector"]["tags"].items()}),
        pre_collect=bool(settings["preCollect"]["enabled"]),
        patch_timeout_minutes=int(settings["patchTimeoutMinutes"]),
        expected_patch_minutes_per_instance=float(settings["expectedPatchMinutesPerInstance"]),
        rerun_of=settings["rerunOf"],
        wave=PlannedWave(
            index=target.wave_index,
            name=wave["name"],
            max_concurrency=wave["maxConcurrency"],
            max_errors=wave["maxErrors"],
        ),
    )


def _check_approved(runs: RunTable, run_id: str, wave_index: int, wave: dict[str, Any]) -> None:
    """The wave record says APPROVED, and so does the approval it names, as ApprovalDecision recorded it.

    The wave record is the workflow's; the approval item only ApprovalDecision may write (the run table's own
    policy), so the decision is read there, with its quorum, exactly as the workflow checked it."""
    record = runs.get_wave(run_id, wave_index)
    approval = record.get("approval", {}) if record else {}
    status = approval.get("status")
    if status != WaveApprovalStatus.APPROVED:
        raise NotThisRun(f"wave {wave['name']!r} of {run_id!r} needs approval and is {status or 'not yet requested'}")
    decided = runs.approval_decision(approval.get("approvalId", "")) if approval.get("approvalId") else None
    approvers = len(decided.get("approvedBy", [])) if decided else 0
    needed = int(wave["approval"].get("minimumApprovers", 1))
    if (
        decided is None
        or (decided.get("status"), decided.get("decision")) != (ApprovalStatus.DECIDED, Decision.APPROVED)
        or (decided.get("runId"), decided.get("waveIndex")) != (run_id, wave_index)
        or approvers < needed
    ):
        raise NotThisRun(
            f"wave {wave['name']!r} of {run_id!r} is recorded APPROVED, but approval "
            f"{approval.get('approvalId') or '(none)'} holds no approving decision for it by {needed} approvers"
        )


def _targets(wave: dict[str, Any], account_id: str, region: str) -> bool:
    return any(account_id in group["accounts"] and region in group["regions"] for group in wave["targets"])
