"""What ``python -m generator build`` produces, rendered deterministically, and the staleness check."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from troposphere import Template

from generator import environments, schedules
from generator.asl.diagram import mermaid
from generator.deploy_role import build_deploy_role
from generator.hub import build_hub
from generator.spoke import build_spoke

REGENERATE = "python -m generator build"
# Where the environments' files are, relative to the repository root (the directory the build runs in).
PARAMETERS = Path("parameters")


@dataclass(frozen=True)
class Artifact:
    """One generated file: its name inside the output directory and its exact content."""

    name: str
    content: str


def render_template(template: Template) -> str:
    """Sorted keys, two-space indent, trailing newline: the same bytes on every machine."""
    return json.dumps(template.to_dict(), indent=2, sort_keys=True) + "\n"


def artifacts(parameters_dir: Path = PARAMETERS) -> tuple[Artifact, ...]:
    """Every generated file, in a fixed order: hub, spoke, workflow diagram, each environment's schedules."""
    stacks = stack_artifacts()
    return (*stacks, *schedule_artifacts(parameters_dir, templates(stacks)))


def stack_artifacts() -> tuple[Artifact, ...]:
    """The hub and spoke templates and the workflow diagram (the same for every environment)."""
    hub = build_hub()
    return (
        Artifact("hub.json", render_template(hub.template)),
        Artifact("spoke.json", render_template(build_spoke())),
        Artifact("hub-workflow.md", mermaid(hub.workflow.graph, title="Hub patch-run workflow")),
        Artifact("deploy-role.json", render_template(build_deploy_role())),
    )


def schedule_artifacts(parameters_dir: Path, stacks: Mapping[str, Mapping[str, Any]]) -> list[Artifact]:
    """``schedules-<env>.json`` for each ``parameters/schedules-<env>.json``, its run documents checked as the
    environment's hub will (refused files raise, naming fields)."""
    found = []
    for path in schedules.files(parameters_dir):
        environment = environments.load(schedules.environment_of(path), parameters_dir, stacks)
        checked = schedules.load_environment(environment, parameters_dir)
        found.append(Artifact(path.name, render_template(schedules.build_schedules(environment.name, checked))))
    return found


def templates(generated: tuple[Artifact, ...] | None = None) -> dict[str, dict[str, Any]]:
    """The generated templates by stack name (``hub``, ``spoke``, ``deploy-role``), as parsed JSON."""
    return {
        artifact.name.removesuffix(".json"): json.loads(artifact.content)
        for artifact in generated or stack_artifacts()
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
