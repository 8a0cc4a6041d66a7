"""ValidateRun: check and normalise the run document, then record the run (once per run id).

Event: ``{"runId": <execution name>, "executionId": <execution ARN>, "document": <execution input>}``. Returns
the normalised run the workflow iterates over. An invalid document raises ``InvalidRunDocument`` naming the
field, before anything is written or sent. A crashed attempt can be retried: the run record is created once per
run id, and the same execution may write it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.contract import run_document
from handlers.contract.environment import ValidateRunEnv
from handlers.contract.table import META, RunStatus, run_pk
from handlers.domain import rerun
from handlers.records.codec import expires_at, iso
from handlers.records.repository import RunTable
from handlers.runtime.clients import HubClients
from handlers.runtime.entry import entry_point
from handlers.runtime.events import read_event
from handlers.runtime.observability import logger, metrics


@dataclass(frozen=True)
class ValidateRunEvent:
    run_id: str
    execution_id: str
    # Anything: an input that is not a run document is refused by the document's own check, naming the field.
    document: Any = None


def handle(event: dict[str, Any], *, env: ValidateRunEnv, clients: HubClients, now: datetime) -> dict[str, Any]:
    request = read_event(ValidateRunEvent, event)
    run = run_document.normalise(
        request.document,
        run_id=request.run_id,
        default_concurrency={"accounts": env.account_concurrency, "regions": env.region_concurrency},
        approval_policy=run_document.ApprovalPolicy.from_settings(
            env.approval_required_waves, env.approvers, env.minimum_approvers, env.maximum_approval_minutes
        ),
        allowed_accounts=run_document.target_accounts(env.target_account_ids),
    )
    runs = RunTable(clients.dynamodb(), env.table_name)
    previous = run["settings"]["rerunOf"]
    selection = rerun.select(runs, previous, run["waves"]) if previous else {}
    runs.create_run(
        {
            "pk": run_pk(request.run_id),
            "sk": META,
            "runId": request.run_id,
            "executionId": request.execution_id,
            "rerunOf": previous,
            "status": RunStatus.RUNNING,
            "documentDigest": run["documentDigest"],
            "operation": run["settings"]["operation"],
            "rebootOption": run["settings"]["rebootOption"],
            "waveCount": len(run["waves"]),
            "targetCount": sum(wave["targetCount"] for wave in run["waves"]),
            # The plan lets Finalize report waves that never started; the document lets operators re-run.
            "plan": json.dumps(run, sort_keys=True),
            "document": json.dumps(request.document, sort_keys=True),
            "startedAt": iso(now),
            "expiresAt": expires_at(now, env.retention_days),
        }
    )
    if previous:
        runs.record_rerun_selection(request.run_id, previous, selection, expires_at=expires_at(now, env.retention_days))
    logger.info("run accepted", extra={"waves": len(run["waves"]), "digest": run["documentDigest"]})
    metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)
    return run


lambda_handler = entry_point(handle, ValidateRunEnv)
