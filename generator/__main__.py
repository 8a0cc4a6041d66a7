"""Command line: ``python -m generator {build,validate,package,definition,deploy,check-run}``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from generator import environments, parameter_files
from generator.build import REGENERATE, artifacts, stale, templates, write
from generator.definition import DefinitionError, deployed_definition
from generator.package import PackageError, build_package, handler_modules
from handlers.contract.errors import InvalidRunDocument

DIFF_LINES_SHOWN = 60


@click.group()
def cli() -> None:
    """EC2 Patching Orchestrator: generate and check the CloudFormation templates."""


def _directory(option: str, default: str, help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option(
        option,
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(default),
        show_default=True,
        help=help_text,
    )


PARAMETERS_DIR = _directory(
    "--parameters-dir", "parameters", "Where the environments' parameter and deployment files are."
)


@cli.command()
@_directory("--output-dir", "output", "Where the templates and the workflow diagram go.")
@click.option("--check", is_flag=True, help="Write nothing; fail if the files on disk differ from a fresh build.")
def build(output_dir: Path, check: bool) -> None:
    """Generate output/hub.json, output/spoke.json, output/deploy-role.json and output/hub-workflow.md."""
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
@click.argument("names", nargs=-1)
@PARAMETERS_DIR
def validate(names: tuple[str, ...], parameters_dir: Path) -> None:
    """Check environments (default: every one in parameters/) against the templates and within themselves."""
    found = environments.names(parameters_dir)
    chosen = names or tuple(found)
    if not chosen:
        raise click.ClickException(f"no environments in {parameters_dir}/ (each needs a deploy-<name>.json)")
    generated = templates()
    failures = [f"{path}: belongs to no environment (no deploy-<env>.json)" for path in _orphans(parameters_dir, found)]
    for problem in failures:
        click.echo(problem, err=True)
    refused = 0
    for name in chosen:
        try:
            environment = environments.load(name, parameters_dir, generated)
        except parameter_files.ParameterFileError as error:
            refused += 1
            for problem in error.problems:
                click.echo(problem, err=True)
            continue
        click.echo(
            f"{name}: ok (hub {len(environment.hub.parameters)} and spoke {len(environment.spoke.parameters)} "
            f"parameters; the hub's functions reserve {environment.reserved_concurrency} concurrent executions, "
            f"so account {environment.hub_placement.account_id} needs a Lambda quota of at least "
            f"{environment.required_lambda_quota})"
        )
    if refused or failures:
        raise click.ClickException(f"{refused} of {len(chosen)} environments refused, {len(failures)} stray files")


def _orphans(directory: Path, known: list[str]) -> list[Path]:
    """Parameter files of no environment: a typo in a file name must not leave a file unchecked."""
    expected = {
        f"{stack}-{name}.json"
        for name in known
        for stack in (environments.HUB, environments.SPOKE, environments.DEPLOY)
    }
    return sorted(path for path in directory.glob("*.json") if path.name not in expected)


@cli.command()
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("build/handlers.zip"),
    show_default=True,
    help="Where to write the zip.",
)
def package(output: Path) -> None:
    """Build the handler package reproducibly and print the CodeKey to upload it under."""
    try:
        built = build_package(handler_modules(templates()["hub"]))
    except PackageError as error:
        raise click.ClickException(str(error)) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(built.content)
    click.echo(f"wrote {output} ({len(built.content)} bytes, sha256 {built.sha256})")
    click.echo(f"CodeKey={built.key}")


@cli.command()
@click.argument("environment")
@PARAMETERS_DIR
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("build/definition.json"),
    show_default=True,
    help="Where to write the definition.",
)
def definition(environment: str, parameters_dir: Path, output: Path) -> None:
    """Write the patch-run definition as ENVIRONMENT's hub will receive it (for validate-state-machine-definition)."""
    generated = templates()
    try:
        checked = environments.load(environment, parameters_dir, generated)
    except parameter_files.ParameterFileError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"environment {environment!r} refused") from None
    hub = generated["hub"]
    try:
        resolved = deployed_definition(
            hub,
            name_prefix=checked.hub.value("NamePrefix", hub),
            account=checked.hub_placement.account_id,
            region=checked.hub_placement.region,
        )
    except DefinitionError as error:
        raise click.ClickException(str(error)) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(resolved, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    click.echo(f"wrote {output} ({len(resolved['States'])} top-level states)")


@cli.command()
@click.argument("environment")
@click.option("--only", type=click.Choice(["hub", "spokes"]), help="Deploy only the hub stack or only the spokes.")
@PARAMETERS_DIR
@_directory(
    "--output-dir", "output", "The committed templates: they must be what the code generates (reviewers approved them)."
)
def deploy(environment: str, only: str | None, parameters_dir: Path, output_dir: Path) -> None:
    """Deploy ENVIRONMENT: handler package, hub stack (through a change set), spoke StackSet."""
    generated = artifacts()
    if stale(generated, output_dir):
        raise click.ClickException(f"{output_dir}/ differs from what the code generates: run {REGENERATE} and review")
    try:
        checked = environments.load(environment, parameters_dir, templates(generated))
    except parameter_files.ParameterFileError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"environment {environment!r} refused; nothing was deployed") from None
    try:
        from generator.deploy import Deployer, DeployError, Templates  # noqa: PLC0415 - boto3 only for deploys
    except ImportError:
        raise click.ClickException("deploying needs boto3: pip install -e '.[deploy]'") from None
    by_name = {artifact.name: artifact.content for artifact in generated}
    try:
        package = build_package(handler_modules(templates(generated)["hub"]))
        Deployer(checked, Templates(by_name["hub.json"], by_name["spoke.json"]), package, echo=click.echo).deploy(
            hub=only != "spokes", spokes=only != "hub"
        )
    except (DeployError, PackageError) as error:
        raise click.ClickException(str(error)) from None


@cli.command("check-run")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--environment", "-e", required=True, help="The environment whose hub will run them (its policy).")
@PARAMETERS_DIR
def check_run(files: tuple[Path, ...], environment: str, parameters_dir: Path) -> None:
    """Check run documents exactly as ValidateRun in ENVIRONMENT's hub will (schema, rules, approval policy)."""
    try:
        hub = environments.load(environment, parameters_dir, templates())
    except parameter_files.ParameterFileError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"environment {environment!r} refused") from None
    failures = 0
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            run_id = document.get("runId", path.stem) if isinstance(document, dict) else path.stem
            run = hub.normalise_run(document, run_id)
        except json.JSONDecodeError as error:
            failures += 1
            click.echo(f"{path}: (document): not valid JSON: {error}", err=True)
        except InvalidRunDocument as error:
            failures += 1
            click.echo(f"{path}: {error}", err=True)
        else:
            targets = sum(wave["targetCount"] for wave in run["waves"])
            gated = [wave["name"] for wave in run["waves"] if wave["approval"]["required"]]
            click.echo(
                f"{path}: ok ({_count(len(run['waves']), 'wave')}, {_count(targets, 'account-region target')}; "
                f"approval before {', '.join(gated) or 'no wave'})"
            )
    if failures:
        raise click.ClickException(f"{failures} of {len(files)} run documents refused")


if __name__ == "__main__":
    cli()


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
