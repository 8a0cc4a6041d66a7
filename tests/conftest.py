"""Suite-wide fixtures: every test runs with fake AWS credentials and can never reach AWS.

Tests under ``tests/workflow/``, ``tests/browser/`` and ``tests/operator/`` run whole patch runs through the
generated state machine: they are marked ``rehearsal``, so ``pytest -m "not rehearsal"`` is the quick loop while
changing code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rehearsal import moto_shims
from rehearsal.hub import Rehearsal, rehearsal

REHEARSAL_FOLDERS = ("workflow", "browser", "operator")
TESTS = Path(__file__).resolve().parent

FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace any real credentials (and profile) so a test that escaped moto would fail, not call AWS."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name, value in FAKE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rehearsal]:
    """A hub deployed in moto (generated state machine, real handlers, simulated fleet)."""
    with rehearsal(monkeypatch) as deployed:
        yield deployed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.path).resolve().relative_to(TESTS).parts[0] in REHEARSAL_FOLDERS:
            item.add_marker(pytest.mark.rehearsal)


@pytest.fixture(autouse=True, scope="session")
def shared_service_models() -> Iterator[None]:
    """botocore reads its service models once for the whole suite (each test's clients would parse them again)."""
    with pytest.MonkeyPatch.context() as patches:
        moto_shims.share_service_models(patches)
        yield
