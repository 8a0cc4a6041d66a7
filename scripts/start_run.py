"""Start a patch run: check the run document locally, then start the execution named by its run id.

Usage: python scripts/start_run.py RUN_DOCUMENT.json --environment ENV --state-machine-arn ARN [--run-id ID]

The document is checked as ENV's hub will check it (its parameter files in parameters/: the approval policy and
the default concurrency).

The run id becomes the execution name, so starting the same run twice is refused by Step Functions (and by the
run record) instead of patching twice. Without --run-id and without "runId" in the document, one is derived from
the file name and the current UTC time.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator import environments  # noqa: E402
from generator.build import templates  # noqa: E402
from generator.parameter_files import ParameterFileError  # noqa: E402
from handlers.contract.errors import InvalidRunDocument  # noqa: E402


def run_id_for(path: Path, document: dict[str, Any], given: str | None, now: datetime) -> str:
    """The explicit id, else the document's, else ``<file stem>-<UTC timestamp>``."""
    return given or document.get("runId") or f"{path.stem}-{now:%Y%m%dT%H%M%SZ}"


def main(argv: list[str] | None = None, *, client: Any = None, now: datetime | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("document", type=Path)
    parser.add_argument("--environment", required=True)
    parser.add_argument("--parameters-dir", type=Path, default=ROOT / "parameters")
    parser.add_argument("--state-machine-arn", required=True)
    parser.add_argument("--run-id")
    options = parser.parse_args(argv)
    document = json.loads(options.document.read_text(encoding="utf-8"))
    run_id = run_id_for(options.document, document, options.run_id, now or datetime.now(UTC))
    try:
        hub = environments.load(options.environment, options.parameters_dir, templates())
    except ParameterFileError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 2
    try:
        hub.normalise_run(document, run_id)
    except InvalidRunDocument as error:
        print(f"{options.document}: {error}", file=sys.stderr)
        return 2
    stepfunctions = client or boto3.client("stepfunctions")
    started = stepfunctions.start_execution(
        stateMachineArn=options.state_machine_arn, name=run_id, input=json.dumps(document)
    )
    print(f"started {run_id}: {started['executionArn']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
