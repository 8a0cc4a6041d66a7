"""The handlers' named writes: every placeholder is bound by the repository, every attribute name is used."""

from __future__ import annotations

import re

import pytest

from handlers.contract.table import Update
from handlers.records import updates
from handlers.records.updates import Put


def named_writes() -> dict[str, Update | Put]:
    found: dict[str, Update | Put] = {}
    for name, value in vars(updates).items():
        if isinstance(value, Update | Put):
            found[name] = value
        elif isinstance(value, dict):
            found |= {f"{name}[{key}]": spec for key, spec in value.items() if isinstance(spec, Update)}
    return found


def test_there_is_a_named_write_for_each_kind_of_item() -> None:
    names = set(named_writes())
    assert {"RUN_CREATED", "RUN_FINISHED", "RUN_CLOSED_ON_STOP", "WAVE_EVALUATED", "LEDGER_SENT"} <= names
    assert {"INSTANCE_RESULT[snapshot]", "INSTANCE_RESULT[patch]", "APPROVAL_CLAIMED", "APPROVAL_REOPENED"} <= names


@pytest.mark.parametrize(("name", "spec"), named_writes().items(), ids=named_writes().keys())
def test_every_attribute_name_a_write_declares_is_used_and_every_one_it_uses_is_declared(
    name: str, spec: Update | Put
) -> None:
    # DynamoDB refuses names an expression does not use, and a #name without a value.
    text = f"{spec.expression} {spec.condition or ''}" if isinstance(spec, Update) else spec.condition
    assert set(re.findall(r"#\w+", text)) == set(spec.names), name


def test_a_put_refuses_values_that_do_not_fit_its_condition() -> None:
    updates.APPROVAL_REQUESTED.check_bound({":digest": "d", ":pending": "PENDING"})
    with pytest.raises(ValueError, match="unbound"):
        updates.APPROVAL_REQUESTED.check_bound({":digest": "d"})
    with pytest.raises(ValueError, match="unused"):
        updates.LEDGER_RESERVED.check_bound({":x": 1})


def test_assignments_set_each_attribute_by_name() -> None:
    spec = updates.assignments("status", "name")

    assert spec.expression == "SET #status = :status, #name = :name"
    assert dict(spec.names) == {"#status": "status", "#name": "name"}
    assert spec.placeholders() == {":status", ":name"}
    assert spec.condition is None


def test_an_instance_result_is_written_under_its_phase() -> None:
    assert dict(updates.INSTANCE_RESULT["patch"].names)["#phase"] == "patch"
    assert dict(updates.INSTANCE_RESULT["snapshot"].names)["#phase"] == "snapshot"
