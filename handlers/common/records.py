"""The run table's keys (see docs/architecture.md) and DynamoDB item conversion.

| pk            | sk                                      | item                         |
| RUN#<runId>   | META                                    | the run                      |
| RUN#<runId>   | WAVE#<nn>                               | one wave                     |
| RUN#<runId>   | TARGET#<nn>#<account>#<region>          | one account x region target  |
| RUN#<runId>   | CMD#<nn>#<account>#<region>#<phase>     | command ledger               |
| RUN#<runId>   | INSTANCE#<account>#<region>#<instance>  | one instance, every phase    |
| RUN#<runId>   | RERUN#<account>#<region>                | a re-run's instances there   |
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from handlers.contract.errors import RunAlreadyExists
from handlers.contract.table import META, command_sk, instance_sk, rerun_sk, run_pk, target_sk, wave_sk

__all__ = ["META", "command_sk", "instance_sk", "rerun_sk", "run_pk", "target_sk", "wave_sk"]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def key(run_id: str, sort_key: str) -> dict[str, Any]:
    return {"pk": {"S": run_pk(run_id)}, "sk": {"S": sort_key}}


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values (ints, strings, dicts, lists, bools) as a DynamoDB item."""
    return {name: _SERIALIZER.serialize(_decimals(value)) for name, value in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers as int or float)."""
    return {name: _plain(_DESERIALIZER.deserialize(value)) for name, value in item.items()}


def expires_at(now: datetime, retention_days: int) -> int:
    """TTL value (epoch seconds) for items written ``now``."""
    return int((now + timedelta(days=retention_days)).timestamp())


def iso(moment: datetime) -> str:
    """``2026-12-08T10:00:00Z``: how every time is stored."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """The inverse of ``iso``."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def get_item(
    dynamodb: Any, table: str, item_key: Mapping[str, Any], *, attributes: Sequence[str] = ()
) -> dict[str, Any] | None:
    """The item at ``item_key`` (from ``key``), consistently read, as plain Python values; or None.

    ``attributes``: read only these (a role may be limited to them)."""
    projection: dict[str, Any] = {}
    if attributes:
        names = {f"#a{index}": name for index, name in enumerate(attributes)}
        projection = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
    item = dynamodb.get_item(TableName=table, Key=dict(item_key), ConsistentRead=True, **projection).get("Item")
    return from_item(item) if item else None


def set_fields(dynamodb: Any, table: str, item_key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """Set ``values`` on the item at ``item_key`` (created if absent), leaving its other attributes alone."""
    dynamodb.update_item(
        TableName=table,
        Key=dict(item_key),
        UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
        ExpressionAttributeNames={f"#{name}": name for name in values},
        ExpressionAttributeValues=to_item({f":{name}": value for name, value in values.items()}),
    )


def query_prefix(dynamodb: Any, table: str, run_id: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every item of a run whose sort key starts with ``prefix`` (all items for ""), all pages, consistent reads."""
    values = {":pk": {"S": run_pk(run_id)}}
    condition = "pk = :pk"
    if prefix:
        # DynamoDB refuses an empty string in a key condition, so "everything" is the bare partition query.
        values[":prefix"] = {"S": prefix}
        condition += " AND begins_with(sk, :prefix)"
    paginator = dynamodb.get_paginator("query")
    pages = paginator.paginate(
        TableName=table, KeyConditionExpression=condition, ExpressionAttributeValues=values, ConsistentRead=True
    )
    for page in pages:
        for item in page["Items"]:
            yield from_item(item)


def create_run(dynamodb: Any, table: str, item: Mapping[str, Any]) -> None:
    """The run's META item, once per run id (the same execution may write it again after a crash)."""
    try:
        dynamodb.put_item(
            TableName=table,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(pk) OR executionId = :execution",
            ExpressionAttributeValues={":execution": {"S": item["executionId"]}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise RunAlreadyExists(f"run {item['pk']} has already been started") from None


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value
