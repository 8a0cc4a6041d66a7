"""Run-table keys and the named updates the workflow makes itself."""

from __future__ import annotations

import json

import pytest

from handlers.contract import table


def test_keys_sort_waves_and_targets_in_order() -> None:
    assert table.wave_sk(3) == "WAVE#03"
    assert table.target_sk(3, "111111111111", "eu-west-1") == "TARGET#03#111111111111#eu-west-1"
    assert table.target_sk(3, "111111111111", "eu-west-1").startswith(table.wave_targets_prefix(3))
    assert sorted([table.wave_sk(10), table.wave_sk(2)]) == ["WAVE#02", "WAVE#10"]
    assert table.run_pk("r1") == table.RUN_PK_FORMAT.format("r1")


def test_an_update_names_every_value_its_caller_must_bind() -> None:
    assert table.RUN_FAILED.placeholders() == {":failed", ":outcome", ":reason", ":now"}
    table.RUN_FAILED.check_bound({":failed": 1, ":outcome": 2, ":reason": 3, ":now": 4})


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({":failed": 1, ":outcome": 2, ":reason": 3}, "unbound"),
        ({":failed": 1, ":outcome": 2, ":reason": 3, ":now": 4, ":x": 5}, "unused"),
    ],
)
def test_an_update_refuses_values_that_do_not_fit(values: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        table.RUN_FAILED.check_bound(values)


def test_statuses_are_plain_strings_in_items_and_json() -> None:
    assert json.dumps({"status": table.RunStatus.RUNNING}) == '{"status": "RUNNING"}'
    assert table.ApprovalStatus.DECIDED == "DECIDED"
