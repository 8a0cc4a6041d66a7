"""How values are stored in the run table: DynamoDB item conversion, times and expiry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


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


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set):  # a string set: sorted, so what is read back is deterministic
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
