"""``patchctl``: the operator's commands. Each finds the hub from ``--stack`` and fails in one line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from botocore.exceptions import ClientError

from handlers.contract.table import COMMAND_PREFIX, WAVE_PREFIX
from handlers.domain.report import approval_text
from operator_cli import documents, progress
from operator_cli.errors import HANDLED, OperatorError, one_line
from operator_cli.stack import Hub, find_hub

# ``watch`` and ``abort`` exit with this when the run ended without patching everything (errors exit 1).
NOT_SUCCEEDED_EXIT = 3
REPORT_FILES = ("summary.json", "instances.csv", "report.html")


class OperatorGroup(click.Group):
    """Turns every AWS or operator failure into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HANDLED as error:
            raise click.ClickException(one_line(error)) from None


@click.group(cls=OperatorGroup)
@click.option("--stack", envvar="PATCHCTL_STACK", required=True, help="The hub stack's name or ARN.")
@click.option("--region", envvar="PATCHCTL_REGION", help="The hub's region (default: the stack ARN's, the profile's).")
@click.option("--profile", envvar="AWS_PROFILE", help="The AWS profile to use.")
@click.pass_context
def cli(ctx: click.Context, stack: str, region: str | None, profile: str | None) -> None:
    """Operate the EC2 Patching Orchestrator: start, watch, report on, abort and re-run patch runs."""
    ctx.obj = _LazyHub(stack, region, profile)


class _LazyHub:
    """The hub is described once, when a command first needs it (so ``--help`` needs no AWS)."""

    def __init__(self, stack: str, region: str | None, profile: str | None) -> None:
        self.stack, self.region, self.profile = stack, region, profile
        self._hub: Hub | None = None

    def __call__(self) -> Hub:
        if self._hub is None:
            self._hub = find_hub(self.stack, region=self.region, profile=self.profile)
        return self._hub


def hub_of(ctx: click.Context) -> Hub:
    lazy: _LazyHub = ctx.find_root().obj
    return lazy()


def run_argument(function: Callable[..., Any]) -> Callable[..., Any]:
    """RUN: a run id, or its execution's ARN (the run id is the execution's name)."""
    return click.argument("run", callback=lambda _ctx, _param, value: str(value).rsplit(":", 1)[-1])(function)


# Runs ----------------------------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--status", "status_filter", type=click.Choice(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"])
)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.pass_context
def runs(ctx: click.Context, status_filter: str | None, limit: int) -> None:
    """Recent runs, newest first: execution status, run outcome, start and end."""
    hub = hub_of(ctx)
    request: dict[str, Any] = {"stateMachineArn": hub.state_machine_arn, "maxResults": limit}
    if status_filter:
        request["statusFilter"] = status_filter
    executions = hub.client("stepfunctions").list_executions(**request)["executions"]
    if not executions:
        click.echo("no runs" + (f" {status_filter}" if status_filter else ""))
        return
    table = hub.runs()
    click.echo(f"{'RUN':<40} {'EXECUTION':<10} {'RUN STATUS':<11} {'OUTCOME':<7} {'STARTED':<20} ENDED")
    for execution in executions:
        meta = _record(table.get_run(execution["name"]))
        click.echo(
            f"{execution['name']:<40} {execution['status']:<10} {meta.get('status', '-'):<11} "
            f"{meta.get('outcome', '-')!s:<7} {_time(execution.get('startDate')):<20} "
            f"{_time(execution.get('stopDate'))}"
        )


@cli.command()
@click.argument("document", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--run-id", help="The run id (default: the document's runId, else <file name>-<UTC time>).")
@click.option("--dry-run", is_flag=True, help="Check the document as ValidateRun will; start nothing.")
@click.pass_context
def start(ctx: click.Context, document: Path, run_id: str | None, dry_run: bool) -> None:
    """Check DOCUMENT exactly as ValidateRun will, then start the run named by its run id."""
    content = documents.read(document)
    chosen = documents.run_id_for(document, content, run_id, datetime.now(UTC))
    _start(hub_of(ctx), content, chosen, source=str(document), dry_run=dry_run)


def _start(hub: Hub, document: Any, run_id: str, *, source: str, dry_run: bool) -> None:
    run = documents.check(document, run_id=run_id, hub=hub, source=source)
    targets = sum(wave["targetCount"] for wave in run["waves"])
    if dry_run:
        click.echo(f"{source}: run {run_id} would patch {len(run['waves'])} wave(s), {targets} target(s)")
        return
    try:
        started = hub.client("stepfunctions").start_execution(
            stateMachineArn=hub.state_machine_arn, name=run_id, input=json.dumps(document)
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            raise OperatorError(f"run id {run_id!r} was used already: give the document another runId") from None
        raise
    click.echo(f"started {run_id}: {started['executionArn']}")
    click.echo(f"follow it: patchctl --stack {hub.stack_name} watch {run_id}")


@cli.command()
@run_argument
@click.pass_context
def status(ctx: click.Context, run: str) -> None:
    """A run's execution and, per wave and target, its instances patched, failed and unreachable."""
    hub = hub_of(ctx)
    execution = _execution(hub, run)
    click.echo(
        f"execution {execution['status']} since {_time(execution.get('startDate'))}: {execution['executionArn']}"
    )
    if execution.get("stopDate"):
        click.echo(f"ended {_time(execution['stopDate'])}" + _stop_cause(execution))
    found = _progress(hub, run)
    if found is None:
        click.echo(f"run {run} has no run record: ValidateRun refused it or has not run yet" + _stop_cause(execution))
        return
    for _key, text in progress.lines(found):
        click.echo(text)


@cli.command()
@run_argument
@click.option(
    "--interval", type=click.FloatRange(min=0.01), default=5.0, show_default=True, help="Seconds between reads."
)
@click.pass_context
def watch(ctx: click.Context, run: str, interval: float) -> None:
    """Follow a run until it ends: a live display on a terminal, a line per change otherwise."""
    hub = hub_of(ctx)
    _execution(hub, run)
    out = sys.stdout
    live = out.isatty()
    shown: dict[str, str] = {}
    drawn = 0
    while True:
        execution_status = _execution(hub, run)["status"]
        found = _progress(hub, run)
        if found is not None:
            if live:
                block = progress.screen(found)
                # Move up over the previous drawing and clear it, then draw again.
                out.write((f"\x1b[{drawn}F\x1b[J" if drawn else "") + "\n".join(block) + "\n")
                out.flush()
                drawn = len(block)
            else:
                for key, text in progress.lines(found):
                    if shown.get(key) != text:
                        click.echo(f"{_clock()} {text}")
                        shown[key] = text
        # The execution may end a moment before the run record is closed (or, stopped, without it: CancelRun).
        if execution_status != "RUNNING" and (found is None or found.finished):
            break
        time.sleep(interval)
    ended = found.status if found is not None else execution_status
    click.echo(f"run {run} ended: execution {execution_status}, run {ended}")
    if found is None or found.status != "SUCCEEDED":
        ctx.exit(NOT_SUCCEEDED_EXIT)


@cli.command()
@run_argument
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write instances.csv here ('-': stdout)."
)
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write report.html here.")
@click.option(
    "--open",
    "open_html",
    is_flag=True,
    help="Open the HTML report in a browser (written to --html or ./<run>-report.html).",
)
@click.pass_context
def report(ctx: click.Context, run: str, csv_path: Path | None, html_path: Path | None, open_html: bool) -> None:
    """A finished run's report from the artifact bucket: the summary, and the CSV and HTML files."""
    hub = hub_of(ctx)
    meta = hub.runs().get_run(run)
    if meta is None:
        raise OperatorError(f"no run {run!r} in {hub.table_name}")
    if not meta.get("reportPrefix"):
        if meta.get("status") == "RUNNING":
            raise OperatorError(
                f"run {run} is still running; its report is written when it ends (patchctl watch {run})"
            )
        raise OperatorError(
            f"run {run} ended {meta.get('status')} before writing a report ({meta.get('reason', '')}): "
            f"see patchctl status {run}"
        )
    files = {name: _artifact(hub, f"{meta['reportPrefix']}{name}") for name in REPORT_FILES}
    summary = json.loads(files["summary.json"])
    for line in _summary_lines(summary):
        click.echo(line)
    click.echo(f"report: s3://{hub.artifact_bucket}/{meta['reportPrefix']}")
    if csv_path is not None:
        if str(csv_path) == "-":
            click.echo(files["instances.csv"], nl=False)
        else:
            csv_path.write_text(files["instances.csv"], encoding="utf-8")
            click.echo(f"wrote {csv_path}")
    if open_html and html_path is None:
        html_path = Path(f"{run}-report.html")
    if html_path is not None:
        html_path.write_text(files["report.html"], encoding="utf-8")
        click.echo(f"wrote {html_path}")
        if open_html:
            click.launch(str(html_path.resolve()))


@cli.command()
@run_argument
@click.option("--reason", default="stopped by an operator (patchctl abort)", show_default=True)
@click.option("--wait", "wait_seconds", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="Seconds to wait for CancelRun to close the run.")  # fmt: skip
@click.option("--interval", type=click.FloatRange(min=0.01), default=2.0, show_default=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def abort(ctx: click.Context, run: str, *, reason: str, wait_seconds: float, interval: float, yes: bool) -> None:
    """Stop a run's execution, then show the commands CancelRun cancelled."""
    hub = hub_of(ctx)
    execution = _execution(hub, run)
    if execution["status"] != "RUNNING":
        raise OperatorError(f"run {run} is not running ({execution['status']}): nothing to abort")
    if not yes:
        click.confirm(f"Stop run {run}? Commands still running are cancelled", abort=True)
    hub.client("stepfunctions").stop_execution(
        executionArn=execution["executionArn"], error="AbortedByOperator", cause=reason[:32768]
    )
    click.echo(f"stopped execution {execution['executionArn']}")
    deadline = time.monotonic() + wait_seconds
    meta = _record(hub.runs().get_run(run))
    while meta.get("status", "RUNNING") == "RUNNING" and time.monotonic() < deadline:
        time.sleep(interval)
        meta = _record(hub.runs().get_run(run))
    ledger = list(hub.runs().items(run, COMMAND_PREFIX))
    cancelled = [entry for entry in ledger if entry.get("cancelledAt")]
    for entry in sorted(cancelled, key=lambda item: str(item["sk"])):
        _, wave, account_id, region, phase = str(entry["sk"]).split("#")
        where = f"{account_id}/{region} (wave {int(wave)})"
        click.echo(f"cancelled {phase} command {entry['commandId']} in {where} at {entry['cancelledAt']}")
    if meta.get("status", "RUNNING") == "RUNNING":
        raise OperatorError(
            f"run {run} is not closed yet: CancelRun has not finished; check /aws/lambda/{hub.name_prefix}-cancel-run "
            f"and the {hub.name_prefix}-run-stop-dead-letters queue"
        )
    click.echo(f"run {run} closed {meta['status']} ({meta.get('outcome')}): {meta.get('reason', '')}")


@cli.command("rerun")
@run_argument
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the re-run document here.")
@click.option("--start", "start_now", is_flag=True, help="Check and start the re-run now.")
@click.option("--run-id", help="The re-run's run id (default: <run>-rerun-<UTC time>).")
@click.pass_context
def rerun_command(ctx: click.Context, run: str, output: Path | None, start_now: bool, run_id: str | None) -> None:
    """The re-run of a finished run (same waves and settings, only instances that did not succeed)."""
    hub = hub_of(ctx)
    document = documents.rerun_document(hub, run)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}: re-run of {run}")
    elif not start_now:
        click.echo(text, nl=False)
    if start_now:
        chosen = run_id or f"{run}-rerun-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        if len(chosen) > documents.MAX_RUN_ID_LENGTH:
            raise OperatorError(f"run id {chosen!r} is over {documents.MAX_RUN_ID_LENGTH} characters: pass --run-id")
        _start(hub, document, chosen, source=f"re-run of {run}", dry_run=False)


@cli.command()
@run_argument
@click.pass_context
def approvals(ctx: click.Context, run: str) -> None:
    """Per gated wave: who was asked, who could not be reached, who decided (when, from where), what is pending."""
    hub = hub_of(ctx)
    table = hub.runs()
    meta = table.get_run(run)
    if meta is None:
        raise OperatorError(f"no run {run!r} in {hub.table_name}")
    recorded = {int(str(item["sk"]).split("#")[1]): item for item in table.items(run, WAVE_PREFIX)}
    gated = [wave for wave in json.loads(meta["plan"])["waves"] if wave["approval"]["required"]]
    if not gated:
        click.echo(f"run {run} asks for no approval")
        return
    for wave in gated:
        approval: Mapping[str, Any] = recorded.get(wave["index"], {}).get("approval", {})
        for line in _approval_lines(
            wave,
            approval,
            table.get_approval(approval["approvalId"]) if approval.get("approvalId") else None,
            running=meta.get("status") == "RUNNING",
        ):
            click.echo(line)


# Helpers -------------------------------------------------------------------------------------------------------


def _record(record: Mapping[str, Any] | None) -> dict[str, Any]:
    """A run record as a plain mapping ({} when there is none)."""
    return dict(record or {})


def _execution(hub: Hub, run: str) -> dict[str, Any]:
    try:
        return dict(hub.client("stepfunctions").describe_execution(executionArn=hub.execution_arn(run)))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise OperatorError(f"no run {run!r}: the state machine has no execution of that name") from None
        raise


def _progress(hub: Hub, run: str) -> progress.RunProgress | None:
    return progress.run_progress(run, hub.runs().items(run))


def _artifact(hub: Hub, key: str) -> str:
    try:
        body = hub.client("s3").get_object(Bucket=hub.artifact_bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise OperatorError(f"s3://{hub.artifact_bucket}/{key} is missing") from None
        raise
    return str(body.decode("utf-8"))


def _summary_lines(summary: Mapping[str, Any]) -> Iterator[str]:
    totals = summary["totals"]
    reason = f": {summary['reason']}" if summary.get("reason") else ""
    yield f"run {summary['runId']}: {summary['status']} ({summary['outcome']}){reason}"
    yield f"operation {summary['operation']}, started {summary['startedAt']}, ended {summary['endedAt']}"
    yield (
        f"instances: {totals['succeeded']} succeeded, {totals['failed']} failed, {totals['unreachable']} unreachable, "
        f"{totals['notPatched']} not patched, of {totals['total']}"
    )
    for wave in summary["waves"]:
        counts = wave["counts"]
        outcome = f" ({wave['outcome']})" if wave.get("outcome") else ""
        yield (
            f"wave {wave['name']}: {wave['status']}{outcome}, {counts['succeeded']} succeeded, "
            f"{counts['failed']} failed, {counts['unreachable']} unreachable of {counts['total']}"
        )
        if wave.get("approval"):
            yield f"  approval: {approval_text(wave['approval'])}"


def _approval_lines(
    wave: Mapping[str, Any], approval: Mapping[str, Any], record: Mapping[str, Any] | None, *, running: bool
) -> Iterator[str]:
    name = wave["name"]
    if not approval:
        yield f"wave {name}: {'not requested yet' if running else 'never requested (the run ended before it)'}"
        yield f"  will ask: {', '.join(wave['approval']['approvers'])}"
        return
    yield f"wave {name}: {approval_text(approval)}"
    yield f"  asked: {', '.join(approval.get('approvers', [])) or 'nobody (no approver has a confirmed subscription)'}"
    if approval.get("unreachableApprovers"):
        yield f"  not reachable (no confirmed subscription): {', '.join(approval['unreachableApprovers'])}"
    yield f"  requested {approval.get('requestedAt', '?')}, expires {approval.get('expiresAt', '?')}"
    if approval.get("status") == "PENDING":
        yield f"  pending: waiting for one of {', '.join(approval.get('approvers', []))}"
    if record is not None and record.get("delivered") is False:
        yield f"  decision not yet confirmed to the workflow: {record.get('deliveryError', '')}"


def _stop_cause(execution: Mapping[str, Any]) -> str:
    parts = [str(execution[name]) for name in ("error", "cause") if execution.get(name)]
    return (": " + ": ".join(parts))[:300] if parts else ""


def _time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "-" if value is None else str(value)


def _clock() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")
