"""The generator needs only its install requirements: ``pip install .`` alone builds, validates and checks runs."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

BLOCKER = """
import sys, importlib.abc
allowed = set(sys.argv[1].split(","))
class OnlyInstallRequirements(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in allowed or top.startswith("_"):
            return None
        raise ImportError(f"{name} is not an install requirement")
sys.meta_path.insert(0, OnlyInstallRequirements())
sys.argv = ["generator", *sys.argv[2:]]
from generator.__main__ import cli
cli()
"""


def _name(requirement: str) -> str:
    return re.split(r"[\s=<>!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def install_requirements() -> set[str]:
    """The distributions ``pip install .`` brings: setup.cfg's install_requires and what they require in turn."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    pending = [_name(line) for line in config["options"]["install_requires"].strip().splitlines() if line.strip()]
    found: set[str] = set()
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending += [_name(r) for r in requires(name) or [] if "extra ==" not in r]
    return found


def importable() -> set[str]:
    """The top-level modules those distributions provide."""
    wanted = install_requirements()
    return {
        module
        for module, distributions in packages_distributions().items()
        if any(_name(distribution) in wanted for distribution in distributions)
    }


def generator_command(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    allowed = {*importable(), "generator", "handlers"}
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(sorted(allowed)), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_runtime_libraries_are_not_install_requirements() -> None:
    assert {"awacs", "click", "fastjsonschema", "troposphere"} <= importable()
    assert not {"boto3", "botocore", "aws_lambda_powertools", "moto"} & importable()


def test_build_validate_and_check_run_need_nothing_but_the_install_requirements(tmp_path: Path) -> None:
    for arguments in (
        ("build", "--output-dir", str(tmp_path)),
        ("validate",),
        ("check-run", "--environment", "dev", "examples/canary-then-fleet.json"),
        # The release workflow packages after `pip install .`; the deploy workflow writes the definition before
        # it has credentials.
        ("package", "--output", str(tmp_path / "handlers.zip")),
        ("definition", "dev", "--output", str(tmp_path / "definition.json")),
    ):
        result = generator_command(tmp_path, *arguments)
        assert result.returncode == 0, (arguments, result.stderr)


def test_the_blocker_refuses_a_module_that_is_not_an_install_requirement(tmp_path: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", BLOCKER.replace("from generator.__main__ import cli\ncli()", "import boto3"), "click"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "boto3 is not an install requirement" in probe.stderr
