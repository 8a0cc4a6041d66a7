"""The handler package: one reproducible zip for every function, named by its content.

Same sources, same bytes (sorted entries, fixed timestamps and permissions), so the key
``handlers/<sha256>.zip`` changes exactly when the code does, and a template never has to. The sources are the
``handlers`` package Python imports (wherever the command runs from), and the zip is refused unless it holds
the module of every function the hub template declares.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Pure-Python dependencies that neither the Lambda runtime nor the Powertools layer is promised to carry.
VENDORED = ("fastjsonschema",)
INCLUDED_SUFFIXES = (".py", ".json")
FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644 << 16


@dataclass(frozen=True)
class Package:
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def key(self) -> str:
        """The S3 key to upload to and to pass as the hub's CodeKey parameter."""
        return f"handlers/{self.sha256}.zip"


class PackageError(RuntimeError):
    """The package would not run: a handler module or a dependency is missing."""


def build_package(required_modules: Iterable[str] = ()) -> Package:
    """Zip the ``handlers`` package and the vendored dependencies, deterministically; ``required_modules``
    (``handlers.discover``, ...) must all be in it."""
    entries: dict[str, bytes] = {}
    for module in ("handlers", *VENDORED):
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise PackageError(f"{module} is not installed; install the project with its dependencies first")
        entries.update(_files(Path(next(iter(spec.submodule_search_locations))), module))
    missing = sorted(m for m in required_modules if f"{m.replace('.', '/')}.py" not in entries)
    if missing:
        raise PackageError(f"the package lacks {', '.join(missing)}, which the template's functions run")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
            info.external_attr = FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever builds it
            archive.writestr(info, entries[name], compresslevel=9)
    return Package(buffer.getvalue())


def _files(directory: Path, prefix: str) -> dict[str, bytes]:
    return {
        f"{prefix}/{path.relative_to(directory).as_posix()}": path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file() and path.suffix in INCLUDED_SUFFIXES and "__pycache__" not in path.parts
    }


def handler_modules(template: Mapping[str, Any]) -> list[str]:
    """The handler module of every function in ``template`` (``handlers.discover`` for ``...lambda_handler``)."""
    return sorted(
        resource["Properties"]["Handler"].rpartition(".")[0]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    )
