"""``patchctl`` / ``python -m operator_cli``: says what to install instead of failing on a missing boto3."""

from __future__ import annotations

import sys

OPERATE_EXTRA = "patchctl needs boto3: pip install 'ec2-patch-orchestrator[operate]' (or -e '.[operate]')"


def main() -> None:
    """The console script's entry point."""
    try:
        from operator_cli.cli import cli  # noqa: PLC0415 - the import is what may fail
    except ModuleNotFoundError as missing:
        if missing.name not in ("boto3", "botocore"):
            raise
        sys.exit(OPERATE_EXTRA)
    cli(prog_name="patchctl")


if __name__ == "__main__":
    main()
