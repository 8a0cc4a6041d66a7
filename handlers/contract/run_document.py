"""Validate and normalise a run document against ``run_document.schema.json`` (the single definition).

Used by the ValidateRun Lambda and by ``python -m generator check-run``. Every refusal names the field, e.g.
``waves[1].maxConcurrency: must match pattern ...``; nothing about a refused document reaches any instance.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import fastjsonschema

from handlers.contract import rollout
from handlers.contract.conventions import MAX_TOTAL_APPROVAL_MINUTES, PATCH_TAG_KEY, RUN_TIMEOUT_SECONDS
from handlers.contract.errors import InvalidRunDocument
from handlers.contract.regions import KNOWN_REGIONS
from handlers.contract.table import wave_sk
from handlers.domain.fleet import SNAPSHOT_DEADLINE_MINUTES

MAX_DOCUMENT_BYTES = 128 * 1024
MAX_TARGETS_PER_RUN = 20_000
# Fixed namespace: the snapshot id of a run is the same wherever and whenever it is computed.
SNAPSHOT_NAMESPACE = uuid.UUID("5b0d7f4e-2f4c-4a55-9a53-6c1f0e3f6a10")


@functools.cache
def schema() -> dict[str, Any]:
    """The run document JSON Schema."""
    text = resources.files("handlers.contract").joinpath("run_document.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


@functools.cache
def _validator() -> Any:
    return fastjsonschema.compile(schema())


def digest(document: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON form: identifies exactly what was run."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def snapshot_id(run_id: str) -> str:
    """AWS-RunPatchBaseline SnapshotId for a run: every instance of the run shares one baseline snapshot."""
    return str(uuid.uuid5(SNAPSHOT_NAMESPACE, run_id))


APPROVAL_AFTER_FIRST, APPROVAL_ALL, APPROVAL_AS_ASKED = "after-first", "all", "run-document"
APPROVAL_REQUIRED_WAVES = (APPROVAL_AFTER_FIRST, APPROVAL_ALL, APPROVAL_AS_ASKED)
# Approvals longer than a few hours are rare; a link is a bearer credential until it expires.
DEFAULT_MAXIMUM_APPROVAL_MINUTES = 240


@dataclass(frozen=True)
class ApprovalPolicy:
    """The deployer's approval policy (hub stack parameters), which no run document can weaken: which waves need
    approval, who may approve, how many distinct approvers must agree, how long links live at most."""

    required_waves: str
    approvers: tuple[str, ...]
    minimum_approvers: int
    maximum_minutes: int

    def __post_init__(self) -> None:
        if self.required_waves not in APPROVAL_REQUIRED_WAVES:
            raise ValueError(f"approval policy: {self.required_waves!r} is not one of {APPROVAL_REQUIRED_WAVES}")

    @classmethod
    def from_settings(cls, required_waves: str, approvers: str, minimum: int, maximum_minutes: int) -> ApprovalPolicy:
        """From the stack's settings: ``approvers`` is the comma-separated allowlist (may be empty)."""
        listed = tuple(address.strip() for address in approvers.split(",") if address.strip())
        return cls(required_waves, listed, minimum, maximum_minutes)

    def requires(self, index: int) -> bool:
        return self.required_waves == APPROVAL_ALL or (self.required_waves == APPROVAL_AFTER_FIRST and index > 0)

    def describe(self) -> str:
        return {
            APPROVAL_ALL: "every wave",
            APPROVAL_AFTER_FIRST: "every wave after the first",
            APPROVAL_AS_ASKED: "the waves whose run document asks",
        }[self.required_waves]


def target_accounts(setting: str) -> frozenset[str]:
    """The hub's TargetAccountIds setting (comma-separated) as a set; empty means any account."""
    return frozenset(account.strip() for account in setting.split(",") if account.strip())


def normalise(
    document: Any,
    *,
    run_id: str,
    default_concurrency: Mapping[str, int],
    approval_policy: ApprovalPolicy,
    allowed_accounts: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Check ``document`` and return the run as the workflow uses it; raise ``InvalidRunDocument`` naming the field.

    Each wave's approval follows ``approval_policy``: a document may ask for more (an approval the policy does not
    require, a shorter timeout, fewer of the allowed approvers), never for less."""
    if not isinstance(document, dict):
        raise InvalidRunDocument(f"(document): must be a JSON object, got {type(document).__name__}")
    size = len(json.dumps(document).encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidRunDocument(f"(document): {size} bytes is over the {MAX_DOCUMENT_BYTES}-byte limit")
    try:
        _validator()(document)
    except fastjsonschema.JsonSchemaValueException as error:
        raise InvalidRunDocument(_describe(error)) from None
    _check_rules(document, run_id)
    _check_accounts(document, allowed_accounts)
    defaults = _defaults()
    concurrency = {**default_concurrency, **document.get("concurrency", {})}
    waves = [_normalise_wave(index, wave, defaults, approval_policy) for index, wave in enumerate(document["waves"])]
    _check_approval_waits(waves)
    minutes_per_instance = document.get("expectedPatchMinutesPerInstance", defaults["expectedPatchMinutesPerInstance"])
    patch_timeout = document.get("patchTimeoutMinutes", defaults["patchTimeoutMinutes"])
    _check_rollouts(waves, minutes_per_instance=minutes_per_instance, limit_minutes=patch_timeout)
    _check_run_length(
        waves,
        concurrency,
        minutes_per_instance=minutes_per_instance,
        limit_minutes=patch_timeout,
        snapshots=document.get("preCollect", {}).get("enabled", defaults["preCollect"]),
    )
    return {
        "runId": run_id,
        "documentDigest": digest(document),
        "settings": {
            "operation": document["operation"],
            "rebootOption": document["rebootOption"],
            "selector": document["selector"],
            "preCollect": {"enabled": document.get("preCollect", {}).get("enabled", defaults["preCollect"])},
            "patchTimeoutMinutes": patch_timeout,
            "expectedPatchMinutesPerInstance": minutes_per_instance,
            "snapshotId": snapshot_id(run_id),
            "concurrency": concurrency,
            "rerunOf": document.get("rerun", {}).get("of", ""),
        },
        "waves": waves,
    }


def _defaults() -> dict[str, Any]:
    """Defaults as the schema declares them (so documentation and behaviour cannot disagree)."""
    root = schema()
    wave = root["definitions"]["wave"]["properties"]
    budget = wave["failureBudget"]["properties"]
    return {
        "preCollect": root["properties"]["preCollect"]["properties"]["enabled"]["default"],
        "patchTimeoutMinutes": root["properties"]["patchTimeoutMinutes"]["default"],
        "expectedPatchMinutesPerInstance": root["properties"]["expectedPatchMinutesPerInstance"]["default"],
        "maxConcurrency": wave["maxConcurrency"]["default"],
        "maxErrors": wave["maxErrors"]["default"],
        "failedPercent": budget["failedPercent"]["default"],
        "unreachablePercent": budget["unreachablePercent"]["default"],
    }


def _normalise_wave(
    index: int, wave: Mapping[str, Any], defaults: Mapping[str, Any], policy: ApprovalPolicy
) -> dict[str, Any]:
    budget = wave.get("failureBudget", {})
    return {
        "index": index,
        "name": wave["name"],
        "targets": wave["targets"],
        "targetCount": sum(len(group["accounts"]) * len(group["regions"]) for group in wave["targets"]),
        "maxConcurrency": wave.get("maxConcurrency", defaults["maxConcurrency"]),
        "maxErrors": wave.get("maxErrors", defaults["maxErrors"]),
        "approval": _approval(index, wave.get("approval"), policy),
        # The wave's run record key, for the workflow's own writes (ASL cannot zero-pad a number).
        "recordKey": wave_sk(index),
        "failureBudget": {
            "failedPercent": budget.get("failedPercent", defaults["failedPercent"]),
            "unreachablePercent": budget.get("unreachablePercent", defaults["unreachablePercent"]),
        },
    }


def _approval(index: int, asked: Mapping[str, Any] | None, policy: ApprovalPolicy) -> dict[str, Any]:
    """The wave's approval: what the policy requires, tightened (never loosened) by what the document asks."""
    where = f"waves[{index}].approval"
    if asked is not None and asked["required"] is False and policy.requires(index):
        raise InvalidRunDocument(
            f"{where}.required: false, but the hub requires approval of {policy.describe()} (ApprovalRequiredWaves)"
        )
    if not (policy.requires(index) or (asked or {}).get("required")):
        return {"required": False}
    allowed = {address.lower() for address in policy.approvers}
    if not allowed:
        raise InvalidRunDocument(f"{where}: the wave needs approval, but the hub names no approvers (Approvers)")
    approvers = list((asked or {}).get("approvers") or policy.approvers)
    outside = [address for address in approvers if address.lower() not in allowed]
    if outside:
        raise InvalidRunDocument(
            f"{where}.approvers: {', '.join(outside)} not among the hub's approvers (Approvers parameter)"
        )
    if len(approvers) < policy.minimum_approvers:
        raise InvalidRunDocument(
            f"{where}.approvers: {len(approvers)} named, but the hub needs {policy.minimum_approvers} distinct "
            "approvers to agree (MinimumApprovers)"
        )
    minutes = int((asked or {}).get("timeoutMinutes", policy.maximum_minutes))
    if minutes > policy.maximum_minutes:
        raise InvalidRunDocument(
            f"{where}.timeoutMinutes: {minutes} is over the hub's {policy.maximum_minutes}-minute limit on approval "
            "links (MaximumApprovalMinutes)"
        )
    # The workflow's callback task reads its timeout in seconds (TimeoutSecondsPath).
    return {
        "required": True,
        "approvers": approvers,
        "minimumApprovers": policy.minimum_approvers,
        "timeoutMinutes": minutes,
        "timeoutSeconds": minutes * 60,
    }


def _check_accounts(document: Mapping[str, Any], allowed: frozenset[str]) -> None:
    """Every targeted account is one the hub may target (its TargetAccountIds), when it names any."""
    if not allowed:
        return
    for wave_index, wave in enumerate(document["waves"]):
        for group_index, group in enumerate(wave["targets"]):
            for account_index, account in enumerate(group["accounts"]):
                if account not in allowed:
                    raise InvalidRunDocument(
                        f"waves[{wave_index}].targets[{group_index}].accounts[{account_index}]: {account} is not "
                        "among the accounts this hub may target (TargetAccountIds)"
                    )


def _check_rules(document: Mapping[str, Any], run_id: str) -> None:
    """What JSON Schema cannot express: run id, patch tag, re-run, wave names, regions, targets, approval waits."""
    if "runId" in document and document["runId"] != run_id:
        raise InvalidRunDocument(f"runId: {document['runId']!r} differs from the execution name {run_id!r}")
    if PATCH_TAG_KEY not in document["selector"]["tags"]:
        # Spoke roles may only command instances carrying this tag; without it in the selector, SSM would
        # address instances the role cannot reach and report them as failures.
        raise InvalidRunDocument(f"selector.tags: must include {PATCH_TAG_KEY!r} (the tag spoke roles are limited to)")
    if document.get("rerun", {}).get("of") == run_id:
        raise InvalidRunDocument(f"rerun.of: a run cannot re-run itself ({run_id!r})")
    wave_names: dict[str, int] = {}
    targeted: dict[tuple[str, str], str] = {}
    for wave_index, wave in enumerate(document["waves"]):
        where = f"waves[{wave_index}]"
        if wave["name"] in wave_names:
            raise InvalidRunDocument(
                f"{where}.name: {wave['name']!r} is already the name of waves[{wave_names[wave['name']]}]"
            )
        wave_names[wave["name"]] = wave_index
        for group_index, group in enumerate(wave["targets"]):
            for region_index, region in enumerate(group["regions"]):
                if region not in KNOWN_REGIONS:
                    raise InvalidRunDocument(
                        f"{where}.targets[{group_index}].regions[{region_index}]: {region!r} is not a known AWS region"
                    )
            for account in group["accounts"]:
                for region in group["regions"]:
                    here = f"{where}.targets[{group_index}]"
                    if (account, region) in targeted:
                        raise InvalidRunDocument(
                            f"{here}: account {account} in {region} is already targeted by {targeted[account, region]}"
                        )
                    targeted[account, region] = here
    if len(targeted) > MAX_TARGETS_PER_RUN:
        raise InvalidRunDocument(
            f"waves: {len(targeted)} account-region targets is over the {MAX_TARGETS_PER_RUN} limit"
        )


def _check_approval_waits(waves: Sequence[Mapping[str, Any]]) -> None:
    """Approvals together may wait at most half the run's timeout: the rest is for patching and reporting."""
    minutes = 0
    for index, wave in enumerate(waves):
        approval = wave["approval"]
        if approval["required"]:
            minutes += approval["timeoutMinutes"]
            if minutes > MAX_TOTAL_APPROVAL_MINUTES:
                raise InvalidRunDocument(
                    f"waves[{index}].approval.timeoutMinutes: the run's approvals would wait up to {minutes} minutes "
                    f"in all, over the {MAX_TOTAL_APPROVAL_MINUTES}-minute limit (half the run's "
                    f"{RUN_TIMEOUT_SECONDS // 86400}-day timeout)"
                )


def _check_rollouts(waves: Sequence[Mapping[str, Any]], *, minutes_per_instance: float, limit_minutes: int) -> None:
    """Each wave's patch must fit patchTimeoutMinutes on any target it may meet. A percentage maxConcurrency has
    a slowest target size, checked here; a count's batches grow with the target, so SendCommand checks it
    against the instances Discover found (``rollout.target_refusal``)."""
    one = rollout.refusal(rollout.plan(1, "1", minutes_per_instance=minutes_per_instance), limit_minutes=limit_minutes)
    if one is not None:
        raise InvalidRunDocument(f"expectedPatchMinutesPerInstance: {one}")
    for wave in waves:
        concurrency = wave["maxConcurrency"]
        slowest = rollout.worst_case_instances(concurrency)
        if slowest is None:
            continue
        planned = rollout.plan(slowest, concurrency, minutes_per_instance=minutes_per_instance)
        reason = rollout.refusal(planned, limit_minutes=limit_minutes)
        if reason is not None:
            raise InvalidRunDocument(
                f"waves[{wave['index']}].maxConcurrency: {concurrency} of a target of {reason} (at "
                f"{minutes_per_instance} expectedPatchMinutesPerInstance); raise maxConcurrency or "
                "patchTimeoutMinutes"
            )


def _check_run_length(
    waves: Sequence[Mapping[str, Any]],
    concurrency: Mapping[str, int],
    *,
    minutes_per_instance: float,
    limit_minutes: int,
    snapshots: bool,
) -> None:
    """The waves, one after another, must fit the run's timeout as planned: per target, the snapshot deadline and
    the planned patch (a percentage's slowest target size; patchTimeoutMinutes for a count, whose targets are
    not counted yet), in as many rounds as ``concurrency`` takes to work through each group's accounts and
    regions, plus the longest the approvals may wait."""
    minutes = sum(wave["approval"].get("timeoutMinutes", 0) for wave in waves)
    for wave in waves:
        concurrency_of_wave = wave["maxConcurrency"]
        slowest = rollout.worst_case_instances(concurrency_of_wave)
        patch = limit_minutes
        if slowest is not None:
            planned = rollout.plan(slowest, concurrency_of_wave, minutes_per_instance=minutes_per_instance)
            patch = min(limit_minutes, math.ceil(planned.deadline_seconds / 60))
        per_target = patch + (SNAPSHOT_DEADLINE_MINUTES if snapshots else 0)
        for group in wave["targets"]:
            rounds = math.ceil(len(group["accounts"]) / concurrency["accounts"]) * math.ceil(
                len(group["regions"]) / concurrency["regions"]
            )
            minutes += rounds * per_target
    limit = RUN_TIMEOUT_SECONDS // 60
    if minutes > limit:
        raise InvalidRunDocument(
            f"waves: the run would take up to {minutes} minutes as planned (targets in rounds of "
            f"{concurrency['accounts']} accounts x {concurrency['regions']} regions, {per_target_note(snapshots)}"
            f"approvals included), over the {RUN_TIMEOUT_SECONDS // 86400}-day run timeout ({limit} minutes); "
            "raise concurrency or split the run"
        )


def per_target_note(snapshots: bool) -> str:
    return (
        f"each target's snapshot ({SNAPSHOT_DEADLINE_MINUTES} min) and patch, "
        if snapshots
        else "each target's patch, "
    )


def _describe(error: fastjsonschema.JsonSchemaValueException) -> str:
    """``data.waves[0].name must match pattern ...`` -> ``waves[0].name: must match pattern ...``."""
    name = str(error.name)
    field = name.removeprefix("data").removeprefix(".") or "(document)"
    detail = str(error.message).removeprefix(name).strip()
    return f"{field}: {detail}"
