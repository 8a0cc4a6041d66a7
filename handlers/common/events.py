"""Read a handler's event at the edge: a missing or ill-typed field is an ``InvalidEvent`` naming it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from handlers.contract.errors import InvalidEvent

if TYPE_CHECKING:
    from handlers.common.aws import Clients

T = TypeVar("T")


def field(event: Mapping[str, Any], path: str, kind: type[T]) -> T:
    """``event`` at dotted ``path`` (``"wave.index"``), which must be a ``kind``."""
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise InvalidEvent(f"event.{path}: required")
        value = value[part]
    # bool is an int in Python; an event that says true where a number belongs is still wrong.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidEvent(f"event.{path}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def optional(event: Mapping[str, Any], path: str, kind: type[T], default: T) -> T:
    """Like ``field`` but ``default`` when absent (present with the wrong type is still refused)."""
    try:
        return field(event, path, kind)
    except InvalidEvent as error:
        if str(error).endswith(": required"):
            return default
        raise


@dataclass(frozen=True)
class Target:
    """The account x region a per-target handler works on, within a run and wave."""

    run_id: str
    wave_index: int
    account_id: str
    region: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Target:
        return cls(
            run_id=field(event, "runId", str),
            wave_index=field(event, "waveIndex", int),
            account_id=field(event, "accountId", str),
            region=field(event, "region", str),
        )

    def spoke(self, clients: Clients, service: str, *, retries: bool = True) -> Any:
        """A client for ``service`` in this target's account and region (through the spoke role)."""
        return clients.spoke(
            service, account_id=self.account_id, region=self.region, run_id=self.run_id, retries=retries
        )

    def log_keys(self) -> dict[str, Any]:
        return {"accountId": self.account_id, "region": self.region, "waveIndex": self.wave_index}
