"""The handler package is reproducible and named by its content."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.__main__ import cli
from generator.package import PackageError, build_package
from rehearsal.template import hub_functions

ROOT = Path(__file__).resolve().parents[2]


def test_building_twice_gives_identical_bytes_and_key() -> None:
    first, second = build_package(), build_package()
    assert first.content == second.content
    assert first.key == f"handlers/{hashlib.sha256(first.content).hexdigest()}.zip"


def test_package_holds_every_handler_the_schema_and_vendored_code_only() -> None:
    names = zipfile.ZipFile(io.BytesIO(build_package().content)).namelist()

    for function in hub_functions():
        assert f"handlers/{function.module}.py" in names
    assert "handlers/contract/run_document.schema.json" in names
    assert "fastjsonschema/__init__.py" in names
    assert names == sorted(names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in names if name.startswith(("generator/", "tests/"))]


def test_entries_carry_no_build_time_or_machine_details() -> None:
    archive = zipfile.ZipFile(io.BytesIO(build_package().content))
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in archive.infolist()} == {0o644}


def test_package_command_writes_the_zip_and_prints_the_code_key(tmp_path: Path) -> None:
    output = tmp_path / "handlers.zip"
    result = CliRunner().invoke(cli, ["package", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert f"CodeKey=handlers/{hashlib.sha256(output.read_bytes()).hexdigest()}.zip" in result.output


def test_package_works_from_any_directory_and_holds_every_handler(tmp_path: Path) -> None:
    elsewhere = tmp_path / "docs"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "generator", "package", "--output", "../handlers.zip"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    names = zipfile.ZipFile(tmp_path / "handlers.zip").namelist()
    assert all(f"handlers/{function.module}.py" in names for function in hub_functions())
    assert result.stdout.strip().endswith(build_package().key)


def test_a_package_that_lacks_a_function_s_module_is_refused() -> None:
    with pytest.raises(PackageError, match=r"lacks handlers\.rollback"):
        build_package(["handlers.discover", "handlers.rollback"])
