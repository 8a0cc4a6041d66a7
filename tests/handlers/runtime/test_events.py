"""The typed event reader: events become frozen dataclasses, and anything that does not fit is refused naming
its path."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from handlers.contract.errors import InvalidEvent
from handlers.runtime.events import key, read_event


@dataclass(frozen=True)
class Group:
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class Wave:
    index: int
    max_concurrency: str
    groups: tuple[Group, ...] = ()
    budget: int | float = 0


@dataclass(frozen=True)
class Caught:
    error: str = key("Error", "Error")
    cause: str = key("Cause", "")


@dataclass(frozen=True)
class Event:
    run_id: str
    wave: Wave
    tags: Mapping[str, tuple[str, ...]]
    enabled: bool = False
    error: Caught | None = None
    rerun_of: str = ""
    document: Any = None


VALID: dict[str, Any] = {"runId": "r", "wave": {"index": 1, "maxConcurrency": "10%"}, "tags": {"PatchGroup": ["web"]}}


def refusal(event: Any) -> str:
    with pytest.raises(InvalidEvent) as refused:
        read_event(Event, event)
    return str(refused.value)


def test_an_event_is_read_by_camel_case_keys_into_nested_frozen_dataclasses() -> None:
    event = read_event(Event, VALID | {"rerunOf": "earlier", "enabled": True})

    assert event == Event(
        run_id="r", wave=Wave(1, "10%"), tags={"PatchGroup": ("web",)}, enabled=True, rerun_of="earlier"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.run_id = "other"  # type: ignore[misc]


def test_keys_the_event_does_not_declare_are_ignored() -> None:
    event = read_event(Event, VALID | {"settings": {"anything": 1}, "wave": VALID["wave"] | {"recordKey": "WAVE#01"}})

    assert event.wave == Wave(1, "10%")


def test_absent_optional_fields_take_their_defaults_and_null_is_accepted_only_where_declared() -> None:
    event = read_event(Event, VALID | {"error": None, "document": None})

    assert (event.enabled, event.error, event.rerun_of, event.document) == (False, None, "", None)
    assert refusal(VALID | {"rerunOf": None}) == "event.rerunOf: expected str, got NoneType"


def test_a_field_read_from_another_key_takes_it_from_there() -> None:
    event = read_event(Event, VALID | {"error": {"Error": "CommandRejected", "Cause": "denied"}})

    assert event.error == Caught("CommandRejected", "denied")
    assert read_event(Event, VALID | {"error": {}}).error == Caught()


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "event.runId: required"),
        (VALID | {"wave": {"maxConcurrency": "1"}}, "event.wave.index: required"),
        ({name: value for name, value in VALID.items() if name != "wave"}, "event.wave: required"),
        (VALID | {"wave": {"index": "1", "maxConcurrency": "1"}}, "event.wave.index: expected int, got str"),
        (VALID | {"wave": {"index": True, "maxConcurrency": "1"}}, "event.wave.index: expected int, got bool"),
        (VALID | {"wave": {"index": 1.5, "maxConcurrency": "1"}}, "event.wave.index: expected int, got float"),
        (VALID | {"wave": "wave-1"}, "event.wave: expected dict, got str"),
        (VALID | {"enabled": "true"}, "event.enabled: expected bool, got str"),
        (VALID | {"enabled": 1}, "event.enabled: expected bool, got int"),
        (VALID | {"tags": {"PatchGroup": "web"}}, "event.tags.PatchGroup: expected list, got str"),
        (VALID | {"tags": {"PatchGroup": ["web", 7]}}, "event.tags.PatchGroup[1]: expected str, got int"),
        (VALID | {"tags": ["PatchGroup"]}, "event.tags: expected dict, got list"),
        (
            VALID | {"wave": {"index": 1, "maxConcurrency": "1", "groups": [{"accounts": ["1"]}, {}]}},
            "event.wave.groups[1].accounts: required",
        ),
        (
            VALID | {"wave": {"index": 1, "maxConcurrency": "1", "budget": "5"}},
            "event.wave.budget: expected int or float, got str",
        ),
        (VALID | {"error": {"Error": 500}}, "event.error.Error: expected str, got int"),
        (["not", "an", "object"], "event: expected dict, got list"),
    ],
)
def test_what_does_not_fit_is_refused_naming_its_path(event: Any, message: str) -> None:
    assert refusal(event) == message


def test_a_number_field_keeps_the_kind_of_number_it_was_given() -> None:
    whole = read_event(Event, VALID | {"wave": {"index": 1, "maxConcurrency": "1", "budget": 5}})
    fraction = read_event(Event, VALID | {"wave": {"index": 1, "maxConcurrency": "1", "budget": 2.5}})

    assert (type(whole.wave.budget), type(fraction.wave.budget)) == (int, float)


@dataclass(frozen=True)
class Envelope:
    name: str = key("detail.name")
    status: str = key("detail.status", "UNKNOWN")


def test_a_dotted_key_reads_inside_an_envelope() -> None:
    assert read_event(Envelope, {"source": "aws.states", "detail": {"name": "r"}}) == Envelope("r", "UNKNOWN")
    with pytest.raises(InvalidEvent, match=r"^event\.detail\.name: required$"):
        read_event(Envelope, {})
    with pytest.raises(InvalidEvent, match=r"^event\.detail: expected dict, got str$"):
        read_event(Envelope, {"detail": "ABORTED"})
