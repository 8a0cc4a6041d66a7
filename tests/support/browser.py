"""Headless Chromium for the approval page test: the machine's own Chromium, driven by Playwright.

Never a browser download: Playwright is given the Debian ``chromium`` binary (``scripts/install_browser.sh``
installs it). Without one the browser test skips with instructions, unless ``REQUIRE_BROWSER=1`` (as in CI),
where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless, sandbox off (CI runs as root), and nothing that phones home: this machine's network is closed.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ROOT = Path(__file__).resolve().parents[2]


def output_dir() -> Path:
    """Where browser tests leave screenshots (``TEST_OUTPUT_DIR``, default ``test-output/`` in the repository)."""
    path = Path(os.environ.get("TEST_OUTPUT_DIR", ROOT / "test-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def chromium_path() -> str | None:
    """``CHROMIUM`` if set, else the first Chromium on ``PATH``."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def _unavailable(reason: str) -> None:
    message = f"{reason}; run scripts/install_browser.sh (or set CHROMIUM=/path/to/chromium) to enable this test"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {message}")
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Any]:
    """A fresh headless Chromium (new profile each time); skips, or fails under REQUIRE_BROWSER=1, without one."""
    executable = chromium_path()
    if executable is None:
        _unavailable("no Chromium found")
    try:
        # Imported here: without Playwright the test skips (or fails in CI) with a message, not an import error.
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=list(FLAGS))
        try:
            yield browser
        finally:
            browser.close()
