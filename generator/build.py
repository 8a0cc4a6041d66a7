"""What ``python -m generator build`` produces, rendered deterministically, and the staleness check."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from troposphere import Template

from generator.asl.diagram import mermaid
from generator.deploy_role import build_deploy_role
from generator.hub import build_hub
from generator.spoke import build_spoke

REGENERATE = "python -m generator build"


@dataclass(frozen=True)
class Artifact:
    """One generated file: its name inside the output directory and its exact content."""

    name: str
    content: str


def render_template(template: Template) -> str:
    """Sorted keys, two-space indent, trailing newline: the same bytes on every machine."""
    return json.dumps(template.to_dict(), indent=2, sort_keys=True) + "\n"


def artifacts() -> tuple[Artifact, ...]:
    """Every generated file, in a fixed order."""
    hub = build_hub()
    return (
        Artifact("hub.json", render_template(hub.template)),
        Artifact("spoke.json", render_template(build_spoke())),
        Artifact("hub-workflow.md", mermaid(hub.workflow.graph, title="Hub patch-run workflow")),
        Artifact("deploy-role.json", render_template(build_deploy_role())),
    )


def templates(generated: tuple[Artifact, ...] | None = None) -> dict[str, dict[str, Any]]:
    """The generated templates by stack name (``hub``, ``spoke``, ``deploy-role``), as parsed JSON."""
    return {
        artifact.name.removesuffix(".json"): json.loads(artifact.content)
        for artifact in generated or artifacts()
        if artifact.name.endswith(".json")
    }


def write(generated: tuple[Artifact, ...], directory: Path) -> list[Path]:
    """Write what differs from ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for artifact in generated:
        path = directory / artifact.name
        if not path.exists() or path.read_bytes() != artifact.content.encode("utf-8"):
            path.write_bytes(artifact.content.encode("utf-8"))
            written.append(path)
    return written


def stale(generated: tuple[Artifact, ...], directory: Path) -> list[tuple[Path, str]]:
    """Each out-of-date file with a unified diff from what is on disk to what the build produces."""
    problems = []
    for artifact in generated:
        path = directory / artifact.name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != artifact.content:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                artifact.content.splitlines(keepends=True),
                fromfile=f"{path} (committed)",
                tofile=f"{path} (generated)",
                n=2,
            )
            problems.append((path, "".join(diff)))
    return problems
