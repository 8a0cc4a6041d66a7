"""DynamoDB batch writes that keep going until every item is stored."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from handlers.common.records import to_item
from handlers.contract.errors import TransientAwsError

BATCH_SIZE = 25
MAX_ROUNDS = 8


def put_all(dynamodb: Any, table: str, items: Iterable[Mapping[str, Any]]) -> int:
    """Put every item (batches of 25, unprocessed items retried with backoff); returns how many were written."""
    pending = [{"PutRequest": {"Item": to_item(item)}} for item in items]
    written = len(pending)
    while pending:
        batch, pending = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
        for attempt in range(MAX_ROUNDS):
            response = dynamodb.batch_write_item(RequestItems={table: batch})
            batch = response.get("UnprocessedItems", {}).get(table, [])
            if not batch:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))
        else:
            raise TransientAwsError(f"{len(batch)} items still unprocessed after {MAX_ROUNDS} batch writes")
    return written
