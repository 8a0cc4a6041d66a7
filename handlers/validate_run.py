"""ValidateRun: check and normalise the run document, then record the run (once per run id).

Event: ``{"runId": <execution name>, "document": <execution input>}``. Returns the normalised run the
workflow iterates over. An invalid document raises ``InvalidRunDocument`` naming the field, before anything is
written or sent.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.common import records, run_document
from handlers.common.aws import Clients
from handlers.common.events import field
from handlers.common.runtime import Env, entry_point, logger, metrics


def handle(event: dict[str, Any], *, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    run_id = field(event, "runId", str)
    run = run_document.normalise(
        event.get("document"),
        run_id=run_id,
        default_concurrency={"accounts": env.account_concurrency, "regions": env.region_concurrency},
    )
    records.create_run(
        clients.hub("dynamodb"),
        env.table_name,
        {
            "pk": records.run_pk(run_id),
            "sk": records.META,
            "runId": run_id,
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
    logger.info("run accepted", extra={"waves": len(run["waves"]), "digest": run["documentDigest"]})
    metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)
    return run


lambda_handler = entry_point(handle)
