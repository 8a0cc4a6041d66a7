"""ValidateRun: an invalid document is refused naming the field; a valid one is recorded once per run id."""

from __future__ import annotations

import json

import pytest

from handlers.contract import table
from handlers.contract.errors import InvalidEvent, InvalidRunDocument, RunAlreadyExists
from rehearsal.hub import Rehearsal
from tests.handlers.test_run_document import VALID, changed


def test_validate_run_records_a_run_once_but_tolerates_its_own_retry(hub: Rehearsal) -> None:
    event = {"runId": "run-9", "executionId": "arn:execution:run-9", "document": VALID}
    first = hub.invoke("ValidateRun", event)
    again = hub.invoke("ValidateRun", event)  # the same execution after a crash

    assert first == again
    with pytest.raises(RunAlreadyExists):
        hub.invoke("ValidateRun", event | {"executionId": "arn:execution:another"})


def test_the_run_record_keeps_the_plan_and_the_document(hub: Rehearsal) -> None:
    run = hub.invoke("ValidateRun", {"runId": "run-9", "executionId": "arn:execution:run-9", "document": VALID})

    meta = hub.item("run-9", table.META)
    assert meta is not None
    assert (meta["status"], meta["executionId"], meta["waveCount"], meta["targetCount"]) == (
        "RUNNING",
        "arn:execution:run-9",
        2,
        3,
    )
    assert json.loads(meta["plan"]) == run
    assert json.loads(meta["document"]) == VALID
    assert meta["expiresAt"] > 0


def test_an_invalid_document_is_refused_before_anything_is_written(hub: Rehearsal) -> None:
    bad = changed("waves.0.maxConcurrency", "110%")

    with pytest.raises(InvalidRunDocument, match=r"^waves\[0\]\.maxConcurrency: must match pattern"):
        hub.invoke("ValidateRun", {"runId": "run-9", "executionId": "arn:execution:run-9", "document": bad})
    with pytest.raises(InvalidRunDocument, match=r"^\(document\): must be a JSON object, got NoneType"):
        hub.invoke("ValidateRun", {"runId": "run-9", "executionId": "arn:execution:run-9"})
    assert hub.items("run-9") == []


def test_validate_run_refuses_an_event_without_the_execution(hub: Rehearsal) -> None:
    with pytest.raises(InvalidEvent, match=r"^event\.executionId: required$"):
        hub.invoke("ValidateRun", {"runId": "run-9", "document": VALID})
