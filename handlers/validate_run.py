"""ValidateRun: check and normalise the run document, then record the run (once per run id).

Event: ``{"runId": <execution name>, "executionId": <execution ARN>, "document": <execution input>}``. Returns
the normalised run the workflow iterates over. An invalid document raises ``InvalidRunDocument`` naming the
field, before anything is written or sent. A crashed attempt can be retried: the run record is created once per
run id, and the same execution may write it again.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.common import records, rerun
from handlers.common.aws import Clients
from handlers.common.events import field
from handlers.common.runtime import Env, entry_point, logger, metrics
from handlers.contract import run_document


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    run_id = field(event, "runId", str)
    execution_id = field(event, "executionId", str)
    run = run_document.normalise(
        event.get("document"),
        run_id=run_id,
        default_concurrency={"accounts": env.account_concurrency, "regions": env.region_concurrency},
    )
    dynamodb = clients.hub("dynamodb")
    previous = run["settings"]["rerunOf"]
    selection = rerun.select(dynamodb, env.table_name, previous, run["waves"]) if previous else {}
    records.create_run(
        dynamodb,
        env.table_name,
        {
            "pk": records.run_pk(run_id),
            "sk": records.META,
            "runId": run_id,
            "executionId": execution_id,
            "rerunOf": previous,
            "status": "RUNNING",
            "documentDigest": run["documentDigest"],
            "operation": run["settings"]["operation"],
            "rebootOption": run["settings"]["rebootOption"],
            "waveCount": len(run["waves"]),
            "targetCount": sum(wave["targetCount"] for wave in run["waves"]),
            # The plan lets Finalize report waves that never started; the document lets operators re-run.
            "plan": json.dumps(run, sort_keys=True),
            "document": json.dumps(event.get("document"), sort_keys=True),
            "startedAt": records.iso(now),
            "expiresAt": records.expires_at(now, env.retention_days),
        },
    )
    if previous:
        rerun.record(
            dynamodb, env.table_name, run_id, previous, selection, expires=records.expires_at(now, env.retention_days)
        )
    logger.info("run accepted", extra={"waves": len(run["waves"]), "digest": run["documentDigest"]})
    metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)
    return run


lambda_handler = entry_point(handle)
