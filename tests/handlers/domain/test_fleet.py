"""The fleet's vocabulary: how long to wait before polling a command again, and what platform an instance runs."""

from __future__ import annotations

from handlers.domain import fleet


def test_the_first_wait_is_about_as_long_as_the_work_and_later_waits_grow_with_it() -> None:
    install = fleet.schedule(fleet.PATCH, "Install")

    assert (
        install.first,
        fleet.schedule(fleet.PATCH, "Scan").first,
        fleet.schedule(fleet.SNAPSHOT, "Install").first,
    ) == (
        600,
        120,
        20,
    )
    assert install.next_wait(0) == 60  # at least ``then``
    assert install.next_wait(2400) == 600  # a quarter of the time spent
    assert install.next_wait(86_400) == 900  # never longer than ``longest``


def test_an_instance_is_windows_only_when_it_says_so() -> None:
    assert fleet.platform_of("Windows") == "windows"
    assert fleet.platform_of("windows") == "windows"
    assert fleet.platform_of("Linux") == "linux"
    assert fleet.platform_of(None) == "linux"
