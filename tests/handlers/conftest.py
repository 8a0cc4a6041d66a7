"""Fixtures of the handler tests (the suite-wide ``hub`` rehearsal is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.handlers.approval_backend import Approvals, deployed


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Approvals]:
    """The approval back end with one wave waiting for a decision."""
    with deployed(monkeypatch) as approvals:
        yield approvals
