"""The build is deterministic and the committed output/ is exactly what it produces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from generator.__main__ import cli
from generator.build import REGENERATE, artifacts, stale

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_FILES = ["deploy-role.json", "hub-workflow.md", "hub.json", "spoke.json"]


def test_building_twice_gives_identical_bytes() -> None:
    assert artifacts() == artifacts()


def test_build_in_a_fresh_interpreter_matches_this_one(tmp_path: Path) -> None:
    # A second process has different hash seeds and import order: output must not depend on either.
    subprocess.run(
        [sys.executable, "-m", "generator", "build", "--output-dir", str(tmp_path)],
        check=True,
        cwd=ROOT,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
        capture_output=True,
    )
    assert {path.name: path.read_text(encoding="utf-8") for path in tmp_path.iterdir()} == {
        artifact.name: artifact.content for artifact in artifacts()
    }


def test_committed_output_is_up_to_date() -> None:
    problems = stale(artifacts(), ROOT / "output")
    report = "\n".join(f"{path} is stale:\n{diff}" for path, diff in problems)
    assert not problems, f"{report}\nRegenerate with: {REGENERATE}"


def test_output_holds_only_generated_files() -> None:
    assert sorted(path.name for path in (ROOT / "output").iterdir()) == EXPECTED_FILES


def test_rendering_is_sorted_indented_and_newline_terminated() -> None:
    for artifact in artifacts():
        assert artifact.content.endswith("\n"), artifact.name
        assert not artifact.content.endswith("\n\n"), artifact.name
        if artifact.name.endswith(".json"):
            assert json.dumps(json.loads(artifact.content), indent=2, sort_keys=True) + "\n" == artifact.content


def test_build_writes_every_file_then_reports_nothing_changed(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["build", "--output-dir", str(tmp_path)])
    second = runner.invoke(cli, ["build", "--output-dir", str(tmp_path)])

    assert first.exit_code == 0, first.output
    assert sorted(path.name for path in tmp_path.iterdir()) == EXPECTED_FILES
    assert f"({len(EXPECTED_FILES)} changed)" in first.output
    assert "(0 changed)" in second.output


def test_check_passes_on_fresh_output(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["build", "--output-dir", str(tmp_path)])

    result = runner.invoke(cli, ["build", "--check", "--output-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_check_names_each_stale_file_and_the_command_that_fixes_it(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["build", "--output-dir", str(tmp_path)])
    spoke = tmp_path / "spoke.json"
    spoke.write_text(spoke.read_text().replace("ExternalId", "ExternalID", 1))
    (tmp_path / "hub-workflow.md").unlink()

    result = runner.invoke(cli, ["build", "--check", "--output-dir", str(tmp_path)])

    assert result.exit_code != 0
    assert f"{spoke} is out of date" in result.output
    assert f"{tmp_path / 'hub-workflow.md'} is out of date" in result.output
    assert "hub.json is out of date" not in result.output
    assert f"run: {REGENERATE}" in result.output
    assert "(generated)" in result.output
    assert "ExternalID" in result.output
    assert spoke.read_text().count("ExternalID") == 1  # --check writes nothing
