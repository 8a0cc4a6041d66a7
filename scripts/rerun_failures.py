"""Write the re-run document for a finished run: same waves and settings, only the instances that did not succeed.

Usage: python scripts/rerun_failures.py RUN_ID --table RUN_TABLE_NAME [--output FILE]
Then start it like any run: python scripts/start_run.py FILE --state-machine-arn ARN
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from handlers.domain.rerun import rerun_document  # noqa: E402
from handlers.records.repository import RunTable  # noqa: E402


def main(argv: list[str] | None = None, *, dynamodb: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--table", required=True)
    parser.add_argument("--output", type=Path)
    options = parser.parse_args(argv)
    client = dynamodb or boto3.client("dynamodb")
    meta = RunTable(client, options.table).get_run(options.run_id)
    if meta is None:
        print(f"no run {options.run_id!r} in {options.table}", file=sys.stderr)
        return 2
    document = rerun_document(json.loads(meta["document"]), options.run_id)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if options.output:
        options.output.write_text(text, encoding="utf-8")
        print(
            f"wrote {options.output}: re-run of {options.run_id} ({meta.get('status')}, outcome {meta.get('outcome')})"
        )
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
