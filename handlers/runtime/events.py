"""Read a handler's event at the edge into the frozen dataclass it declares.

Fields are read by their camelCase name (``wave_index`` from ``waveIndex``) unless ``key()`` names them otherwise
(a name, or a dotted path into an envelope the handler does not otherwise read). Nested dataclasses,
``tuple[T, ...]`` (JSON arrays), ``Mapping[str, T]`` (JSON objects), unions and ``Any`` are read recursively. A
missing field or a value of the wrong type is an ``InvalidEvent`` naming its path (``event.wave.index: expected
int, got str``); a bool is never taken for a number. Keys the dataclass does not declare are ignored: the
workflow may send more than a handler reads.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Mapping
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from handlers.contract.errors import InvalidEvent

T = TypeVar("T")
_KEY = "event_key"


def key(name: str, default: Any = dataclasses.MISSING) -> Any:
    """A field read from the event key ``name`` (when it is not the field's camelCase name), or from a dotted
    path (``"detail.name"``)."""
    return dataclasses.field(default=default, metadata={_KEY: name})


def read_event(event_type: type[T], event: object) -> T:
    """``event`` as ``event_type`` (a dataclass), or ``InvalidEvent`` naming the first field that does not fit."""
    value: T = _read(event_type, event, "event")
    return value


def _read(kind: Any, value: object, path: str) -> Any:
    if kind is Any:
        return value
    if _is_dataclass(kind):
        return _read_dataclass(kind, value, path)
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):
        return _read_union(kind, args, value, path)
    if origin is tuple:
        if not isinstance(value, list):
            raise _mismatch(kind, value, path)
        return tuple(_read(args[0], item, f"{path}[{index}]") for index, item in enumerate(value))
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise _mismatch(kind, value, path)
        return {name: _read(args[1], item, f"{path}.{name}") for name, item in value.items()}
    # bool is an int in Python; an event that says true where a number belongs is still wrong.
    if isinstance(kind, type) and isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)):
        return value
    raise _mismatch(kind, value, path)


def _read_union(kind: Any, options: tuple[Any, ...], value: object, path: str) -> Any:
    if value is None and type(None) in options:
        return None
    present = [option for option in options if option is not type(None)]
    if len(present) == 1:
        return _read(present[0], value, path)  # so a nested field's own path is named
    for option in present:
        try:
            return _read(option, value, path)
        except InvalidEvent:
            continue
    raise _mismatch(kind, value, path)


def _read_dataclass(kind: Any, value: object, path: str) -> Any:
    if not isinstance(value, Mapping):
        raise _mismatch(kind, value, path)
    hints = _hints(kind)
    values = {}
    for field in dataclasses.fields(kind):
        name = field.metadata.get(_KEY, _camel(field.name))
        found, item = _lookup(value, name, path)
        if found:
            values[field.name] = _read(hints[field.name], item, f"{path}.{name}")
        elif _required(field):
            raise InvalidEvent(f"{path}.{name}: required")
    return kind(**values)


def _lookup(value: Mapping[str, Any], name: str, path: str) -> tuple[bool, object]:
    """(found, value) at ``name``, a key or a dotted path; an intermediate that is not an object is refused."""
    *parents, last = name.split(".")
    for parent in parents:
        path = f"{path}.{parent}"
        if parent not in value:
            return False, None
        if not isinstance(value[parent], Mapping):
            raise InvalidEvent(f"{path}: expected dict, got {type(value[parent]).__name__}")
        value = value[parent]
    return (True, value[last]) if last in value else (False, None)


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _is_dataclass(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


@functools.cache
def _hints(kind: Any) -> dict[str, Any]:
    return get_type_hints(kind)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _mismatch(kind: Any, value: object, path: str) -> InvalidEvent:
    return InvalidEvent(f"{path}: expected {_name(kind)}, got {type(value).__name__}")


def _name(kind: Any) -> str:
    if _is_dataclass(kind):
        return "dict"
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        return " or ".join(_name(option) for option in get_args(kind) if option is not type(None))
    if origin is tuple:
        return "list"
    if origin in (dict, Mapping):
        return "dict"
    return str(getattr(kind, "__name__", kind))
