"""Benchmark: how long `python -m generator build` takes, cold (new process) and warm (in process).

Usage: .venv/bin/python scripts/bench_build.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs

    cold = []
    with tempfile.TemporaryDirectory() as output:
        for _ in range(runs):
            started = time.perf_counter()
            command = [sys.executable, "-m", "generator", "build", "--output-dir", output]
            subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
            cold.append(time.perf_counter() - started)

    from generator.build import artifacts  # noqa: PLC0415 - after the cold runs, so they start truly cold

    warm = []
    for _ in range(runs):
        started = time.perf_counter()
        artifacts()
        warm.append(time.perf_counter() - started)

    for label, samples in (("cold (new process)", cold), ("warm (in process)", warm)):
        print(
            f"{label:20} median {statistics.median(samples) * 1000:7.1f} ms"
            f"   min {min(samples) * 1000:7.1f} ms   max {max(samples) * 1000:7.1f} ms   runs {runs}"
        )


if __name__ == "__main__":
    main()
