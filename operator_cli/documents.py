"""Run documents as ``start`` and ``rerun`` check them: read from a file, named by a run id, checked exactly as
ValidateRun will check them (schema and rules, the hub's concurrency defaults, a re-run's earlier run), before
anything starts.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from handlers.contract import run_document
from handlers.contract.errors import InvalidRunDocument
from handlers.domain import rerun
from operator_cli.errors import OperatorError
from operator_cli.stack import Hub

MAX_RUN_ID_LENGTH = 80


def read(path: Path) -> Any:
    """The JSON in ``path``; a file that cannot be read or is not JSON is one line naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise OperatorError(f"{path}: cannot be read: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise OperatorError(f"{path}: not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None


def run_id_for(path: Path, document: Any, given: str | None, now: datetime) -> str:
    """The explicit id, else the document's ``runId``, else ``<file stem>-<UTC timestamp>``."""
    recorded = document.get("runId") if isinstance(document, dict) else None
    return given or recorded or f"{path.stem}-{now:%Y%m%dT%H%M%SZ}"


def normalised(document: Any, *, run_id: str, hub: Hub) -> dict[str, Any]:
    """The run as ValidateRun will normalise it, with the hub's own defaults (the single call of the check)."""
    return run_document.normalise(
        document,
        run_id=run_id,
        default_concurrency={
            "accounts": hub.int_parameter("DefaultAccountConcurrency", 1),
            "regions": hub.int_parameter("DefaultRegionConcurrency", 1),
        },
        # The deployer's approval policy: the stack's parameters (CloudFormation reports defaults too).
        approval_policy=run_document.ApprovalPolicy.from_settings(
            hub.parameters.get("ApprovalRequiredWaves", run_document.APPROVAL_AFTER_FIRST),
            hub.parameters.get("Approvers", ""),
            hub.int_parameter("MinimumApprovers", 1),
            hub.int_parameter("MaximumApprovalMinutes", run_document.DEFAULT_MAXIMUM_APPROVAL_MINUTES),
        ),
        allowed_accounts=run_document.target_accounts(hub.parameters.get("TargetAccountIds", "")),
    )


def check(document: Any, *, run_id: str, hub: Hub, source: str) -> dict[str, Any]:
    """Refuse, naming ``source`` and the field, what ValidateRun would refuse; and a run id used before."""
    try:
        run = normalised(document, run_id=run_id, hub=hub)
        previous = run["settings"]["rerunOf"]
        if previous:
            rerun.select(hub.runs(), previous, run["waves"])
    except InvalidRunDocument as error:
        raise OperatorError(f"{source}: {error}") from None
    used = hub.runs().get_run(run_id)
    if used is not None:
        raise OperatorError(
            f"run id {run_id!r} was used already ({used.get('status')}, started {used.get('startedAt')}): "
            "give the document another runId or pass --run-id"
        )
    return run


def rerun_document(hub: Hub, run_id: str) -> dict[str, Any]:
    """The re-run of a finished run: its document, patching only the instances that did not succeed."""
    meta = hub.runs().get_run(run_id)
    if meta is None:
        raise OperatorError(f"no run {run_id!r} in {hub.table_name}")
    return rerun.rerun_document(json.loads(meta["document"]), run_id)
