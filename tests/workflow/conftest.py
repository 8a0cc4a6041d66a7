"""Fixtures for rehearsals of the generated workflow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.rehearsal import Rehearsal, rehearsal


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rehearsal]:
    with rehearsal(monkeypatch) as deployed:
        yield deployed
