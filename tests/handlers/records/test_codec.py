"""How values are stored: DynamoDB items round-trip plain Python values; times are ISO UTC seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from handlers.records import codec


def test_items_round_trip_numbers_as_int_or_float_and_tuples_as_lists() -> None:
    values = {"whole": 5, "fraction": 2.5, "flag": True, "nested": {"list": (1, "a"), "none": None}, "text": "x"}

    item = codec.to_item(values)

    assert item["fraction"] == {"N": "2.5"}
    assert codec.from_item(item) == {
        "whole": 5,
        "fraction": 2.5,
        "flag": True,
        "nested": {"list": [1, "a"], "none": None},
        "text": "x",
    }


def test_times_are_stored_to_the_second_in_utc_and_read_back() -> None:
    moment = datetime(2026, 12, 8, 9, 0, 1, 999_000, tzinfo=UTC)

    assert codec.iso(moment) == "2026-12-08T09:00:01Z"
    assert codec.parse_iso("2026-12-08T09:00:01Z") == moment.replace(microsecond=0)
    assert codec.expires_at(moment, 1) == int(moment.timestamp()) + 86_400
