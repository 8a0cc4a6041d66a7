"""Bad input: every malformed run document is refused at ValidateRun, naming the field, before any command."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handlers.contract import table
from rehearsal.hub import Rehearsal
from tests.handlers.test_run_document import MALFORMED, VALID, changed

ACCOUNT = "111111111111"


def test_every_malformed_document_fails_the_run_at_its_first_state(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, "eu-west-1", 2)
    hub.fleet.add("222222222222", "eu-west-1", 1)
    documents = [(document, field) for document, field in MALFORMED if isinstance(document, dict)]
    assert len(documents) >= 25

    for index, (document, expected) in enumerate(documents):
        run_id = f"bad-{index}"
        field = expected.replace("'run-1'", f"'{run_id}'")  # the execution name the runId must equal
        result = hub.run(document, run_id)
        history = hub.history(result["executionArn"])
        entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]

        assert (result["status"], result["error"]) == ("FAILED", "InvalidRunDocument"), field
        assert field in result["cause"], (field, result["cause"])
        assert entered == ["ValidateRun", "RunRejected"], field
        assert hub.items(run_id) == [], field

    assert hub.fleet.sent() == []
    assert hub.invocations == {"ValidateRun": len(documents)}


def test_input_that_is_not_json_is_refused_by_step_functions(hub: Rehearsal) -> None:
    # AWS answers InvalidExecutionInput (moto leaves the code empty but refuses the same way).
    with pytest.raises(ClientError, match="Expecting property name"):
        hub.start("{not json", "not-json")
    assert hub.invocations == {}


@pytest.mark.parametrize("document", [[1, 2], "text", 42, None], ids=["array", "string", "number", "null"])
def test_json_that_is_not_an_object_is_refused_naming_the_document(hub: Rehearsal, document: Any) -> None:
    result = hub.run(json.dumps(document), "not-an-object")  # type: ignore[arg-type]

    assert (result["status"], result["error"]) == ("FAILED", "InvalidRunDocument")
    assert "(document): must be a JSON object" in result["cause"]
    assert hub.fleet.sent() == []


def test_a_refused_document_leaves_nothing_behind_and_its_fix_runs(hub: Rehearsal) -> None:
    hub.fleet.add(ACCOUNT, "eu-west-1", 1)
    bad = changed("waves.0.maxConcurrency", "110%")
    assert hub.run(bad, "fix-me")["error"] == "InvalidRunDocument"
    assert hub.items("fix-me") == []

    fixed = hub.run(VALID | {"waves": [VALID["waves"][0]]}, "fix-me-2")

    assert fixed["status"] == "SUCCEEDED", fixed.get("cause")
    assert hub.item("fix-me-2", table.META) is not None
