"""Command line: ``python -m generator build [--check]``."""

from __future__ import annotations

from pathlib import Path

import click

from generator import parameter_files
from generator.build import REGENERATE, artifacts, stale, write

DIFF_LINES_SHOWN = 60


@click.group()
def cli() -> None:
    """EC2 Patching Orchestrator: generate and check the CloudFormation templates."""


@cli.command()
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("output"),
    show_default=True,
    help="Where the templates and the workflow diagram go.",
)
@click.option("--check", is_flag=True, help="Write nothing; fail if the files on disk differ from a fresh build.")
def build(output_dir: Path, check: bool) -> None:
    """Generate output/hub.json, output/spoke.json and output/hub-workflow.md."""
    generated = artifacts()
    if check:
        problems = stale(generated, output_dir)
        for path, diff in problems:
            click.echo(f"{path} is out of date.", err=True)
            lines = diff.splitlines()
            click.echo("\n".join(lines[:DIFF_LINES_SHOWN]), err=True)
            if len(lines) > DIFF_LINES_SHOWN:
                click.echo(f"... ({len(lines) - DIFF_LINES_SHOWN} more diff lines)", err=True)
        if problems:
            raise click.ClickException(f"generated files are stale; run: {REGENERATE}")
        click.echo(f"{len(generated)} generated files are up to date in {output_dir}/")
        return
    written = write(generated, output_dir)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"{len(generated)} files in {output_dir}/ ({len(written)} changed)")


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check parameter files (default: parameters/*.json) against the templates they deploy."""
    paths = files or tuple(sorted(Path("parameters").glob("*.json")))
    if not paths:
        raise click.ClickException("no parameter files given and none found in parameters/")
    failures = 0
    for path in paths:
        try:
            loaded = parameter_files.load(path)
        except parameter_files.ParameterFileError as error:
            failures += 1
            click.echo(str(error), err=True)
        else:
            click.echo(f"{path}: ok ({len(loaded.parameters)} parameters for {loaded.template_path.name})")
    if failures:
        raise click.ClickException(f"{failures} of {len(paths)} parameter files refused")


if __name__ == "__main__":
    cli()
