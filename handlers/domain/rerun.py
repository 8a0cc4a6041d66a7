"""Re-runs: patch again only the instances that did not succeed in an earlier run.

ValidateRun selects them from the earlier run's INSTANCE records and stores one RERUN item per account and
region of the new run; Discover then looks only at those instances, and SendCommand addresses them by id
(SSM takes at most 50 instance ids per command, hence the limit per account and region).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from handlers.contract.errors import InvalidRunDocument
from handlers.contract.table import RunStatus
from handlers.domain.outcomes import SUCCEEDED

if TYPE_CHECKING:
    from handlers.records.repository import RunTable

MAX_INSTANCES_PER_TARGET = 50


def select(runs: RunTable, previous: str, waves: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Instances of ``previous`` that did not succeed, per (account, region) the new run targets."""
    meta = runs.get_run(previous)
    if meta is None:
        raise InvalidRunDocument(f"rerun.of: no run {previous!r} has been recorded")
    if meta.get("status") == RunStatus.RUNNING:
        raise InvalidRunDocument(f"rerun.of: run {previous!r} has not finished")
    targeted = {
        (account, region)
        for wave in waves
        for group in wave["targets"]
        for account in group["accounts"]
        for region in group["regions"]
    }
    selection: dict[tuple[str, str], list[str]] = {}
    for item in runs.run_instances(previous):
        where = (item["accountId"], item["region"])
        if where in targeted and item.get("final", {}).get("status") != SUCCEEDED:
            selection.setdefault(where, []).append(item["instanceId"])
    for (account, region), instance_ids in sorted(selection.items()):
        if len(instance_ids) > MAX_INSTANCES_PER_TARGET:
            raise InvalidRunDocument(
                f"rerun.of: {len(instance_ids)} instances in {account}/{region} did not succeed in {previous!r}; "
                f"a re-run covers at most {MAX_INSTANCES_PER_TARGET} per account and region (re-run the wave instead)"
            )
    return {where: sorted(ids) for where, ids in selection.items()}


def rerun_document(document: Mapping[str, Any], previous: str) -> dict[str, Any]:
    """The document of a re-run: the earlier run's document (without its run id) plus ``rerun.of``."""
    repeated = {key: value for key, value in document.items() if key not in ("runId", "rerun")}
    return {**repeated, "rerun": {"of": previous}}
