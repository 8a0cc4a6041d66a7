"""The account x region a per-target handler works on, within a run and wave; the event fields naming it; and
which of its instances a run patches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """One account x region of a wave."""

    run_id: str
    wave_index: int
    account_id: str
    region: str

    def log_keys(self) -> dict[str, Any]:
        return {"accountId": self.account_id, "region": self.region, "waveIndex": self.wave_index}


@dataclass(frozen=True, kw_only=True)
class TargetEvent:
    """What every per-target event starts with (``runId``, ``executionId``, ``waveIndex``, ``accountId``,
    ``region``). ``executionId`` is the run's own execution (a Distributed Map child carries its parent's): the
    handler checks it against the run record before acting (``handlers.domain.guard``)."""

    run_id: str
    execution_id: str
    wave_index: int
    account_id: str
    region: str

    @property
    def target(self) -> Target:
        return Target(self.run_id, self.wave_index, self.account_id, self.region)


@dataclass(frozen=True)
class Selector:
    """Instances carrying any of the values of every tag (the run document's ``selector``)."""

    tags: Mapping[str, tuple[str, ...]]
