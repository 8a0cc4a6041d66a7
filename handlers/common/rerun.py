"""Re-runs: patch again only the instances that did not succeed in an earlier run.

ValidateRun selects them from the earlier run's INSTANCE records and stores one RERUN item per account and
region of the new run; Discover then looks only at those instances, and SendCommand addresses them by id
(SSM takes at most 50 instance ids per command, hence the limit per account and region).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handlers.common import records
from handlers.common.batch import put_all
from handlers.common.outcomes import SUCCEEDED
from handlers.contract.errors import InvalidRunDocument

MAX_INSTANCES_PER_TARGET = 50


def select(
    dynamodb: Any, table: str, previous: str, waves: Sequence[Mapping[str, Any]]
) -> dict[tuple[str, str], list[str]]:
    """Instances of ``previous`` that did not succeed, per (account, region) the new run targets."""
    meta = records.get_item(dynamodb, table, records.key(previous, records.META))
    if meta is None:
        raise InvalidRunDocument(f"rerun.of: no run {previous!r} has been recorded")
    if meta.get("status") == "RUNNING":
        raise InvalidRunDocument(f"rerun.of: run {previous!r} has not finished")
    targeted = {
        (account, region)
        for wave in waves
        for group in wave["targets"]
        for account in group["accounts"]
        for region in group["regions"]
    }
    selection: dict[tuple[str, str], list[str]] = {}
    for item in records.query_prefix(dynamodb, table, previous, "INSTANCE#"):
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


def record(
    dynamodb: Any,
    table: str,
    run_id: str,
    previous: str,
    selection: Mapping[tuple[str, str], list[str]],
    *,
    expires: int,
) -> None:
    """Store the selection under the new run (one item per account and region)."""
    put_all(
        dynamodb,
        table,
        (
            {
                "pk": records.run_pk(run_id),
                "sk": records.rerun_sk(account, region),
                "rerunOf": previous,
                "instanceIds": instance_ids,
                "expiresAt": expires,
            }
            for (account, region), instance_ids in sorted(selection.items())
        ),
    )


def instances(dynamodb: Any, table: str, run_id: str, account_id: str, region: str) -> list[str]:
    """The instances a re-run patches in ``account_id``/``region`` (none if nothing failed there)."""
    item = records.get_item(dynamodb, table, records.key(run_id, records.rerun_sk(account_id, region)))
    return list(item["instanceIds"]) if item else []


def rerun_document(document: Mapping[str, Any], previous: str) -> dict[str, Any]:
    """The document of a re-run: the earlier run's document (without its run id) plus ``rerun.of``."""
    repeated = {key: value for key, value in document.items() if key not in ("runId", "rerun")}
    return {**repeated, "rerun": {"of": previous}}
