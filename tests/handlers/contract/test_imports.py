"""The contract package stays importable without the handlers' runtime dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RUNTIME_ONLY = ("boto3", "botocore", "aws_lambda_powertools")


def test_the_generator_and_the_contract_import_no_runtime_library() -> None:
    # A fresh interpreter: what building the templates pulls in, and nothing the test suite loaded before.
    probe = (
        "import sys, generator.__main__, generator.build\n"
        "import handlers.contract.environment, handlers.contract.run_document, handlers.contract.table\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {RUNTIME_ONLY!r}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
