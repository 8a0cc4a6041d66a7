"""Benchmark: what one patch run costs in Step Functions history, transitions and Lambda invocations.

Rehearses the happy path offline (generated state machine in moto, real handlers, simulated fleet) for a fleet
of ``--accounts`` x ``--regions`` targets in two waves and prints per-run and per-target figures. The parent
execution's history is read through the API; the Distributed Map's child executions are counted by wrapping
moto's map-run worker, because moto does not expose child histories.

With ``--approval`` the second wave waits for an approval, which the script gives through the approval handlers
(open the emailed link, confirm) and times.

Usage: .venv/bin/python scripts/bench_rehearsal.py [--accounts 3] [--regions 2] [--instances 3] [--approval]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_CONFIG_FILE="/dev/null",
    AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    MOTO_EC2_LOAD_DEFAULT_AMIS="false",
    POWERTOOLS_LOG_LEVEL="WARNING",
    POWERTOOLS_METRICS_DISABLED="true",
)

import pytest  # noqa: E402

from rehearsal import approvals, moto_shims  # noqa: E402
from rehearsal.hub import rehearsal  # noqa: E402

APPROVER = "ops@example.com"

PER_TARGET_FUNCTIONS = {"Discover", "SendCommand", "PollCommand", "StoreSnapshots", "RecordTarget"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--instances", type=int, default=3, help="instances per account and region")
    parser.add_argument("--approval", action="store_true", help="the second wave waits for an approval")
    options = parser.parse_args()
    accounts = [f"{index:012d}" for index in range(111111111111, 111111111111 + options.accounts)]
    regions = ["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2", "us-west-2", "sa-east-1"][: options.regions]
    with pytest.MonkeyPatch.context() as patches:
        moto_shims.share_service_models(patches)
        child_histories = moto_shims.record_child_histories(patches)
        with rehearsal(patches) as hub:
            for account in accounts:
                for region in regions:
                    hub.fleet.add(account, region, options.instances)
            split = max(1, len(accounts) // 3)
            document = {
                "operation": "Install",
                "rebootOption": "RebootIfNeeded",
                "selector": {"tags": {"PatchGroup": ["web"]}},
                "waves": [
                    {"name": "canary", "targets": [{"accounts": accounts[:split], "regions": regions}]},
                    {"name": "fleet", "targets": [{"accounts": accounts[split:], "regions": regions}]},
                ],
            }
            approval_timings: dict[str, float] = {}
            if options.approval:
                hub.subscribe_approver(APPROVER)
                document["waves"][1]["approval"] = {"required": True, "timeoutMinutes": 60, "approvers": [APPROVER]}
            started = time.perf_counter()
            execution = hub.start(document, "bench")
            if options.approval:
                approval_timings = approve(hub)
            result = hub.wait(execution, timeout_seconds=600)
            elapsed = time.perf_counter() - started
            parent = hub.history(result["executionArn"])
            children = [event for history in child_histories() for event in history]

    targets = len(accounts) * len(regions)
    parent_types = Counter(event["type"] for event in parent)
    child_entered = sum(1 for event in children if str(event["type"]).endswith("StateEntered"))
    per_target_invocations = sum(n for name, n in hub.invocations.items() if name in PER_TARGET_FUNCTIONS)
    print(f"run status               {result['status']} ({targets} targets, {targets * options.instances} instances)")
    print(f"wall time (offline)      {elapsed:.1f} s")
    print(f"parent history events    {len(parent)}")
    print(f"parent state transitions {sum(n for kind, n in parent_types.items() if kind.endswith('StateEntered'))}")
    print(f"child executions         {len(accounts)} (one per account; Distributed Map)")
    print(f"child history events     {len(children)} in all, {len(children) / len(accounts):.0f} per account")
    print(f"state transitions/target {child_entered / targets:.1f} (inside child executions)")
    print(f"Lambda invocations       {sum(hub.invocations.values())} in all: {dict(sorted(hub.invocations.items()))}")
    print(f"Lambda invocations/target {per_target_invocations / targets:.1f}")
    for name, seconds in approval_timings.items():
        print(f"{name:<24} {seconds * 1000:.0f} ms (in process, moto)")


def approve(hub: Any) -> dict[str, float]:
    """Open the emailed approve link and confirm it, as the approver would; the time each request took."""
    link = approvals.links(hub.wait_for_approval_requests(1, timeout_seconds=600)[0]["message"])["approve"]
    timings = {}
    for name, request in (
        ("approval page (GET)", approvals.open_link),
        ("approval decision (POST)", approvals.confirm),
    ):
        started = time.perf_counter()
        response = request(hub, link)
        timings[name] = time.perf_counter() - started
        if response["statusCode"] != 200:
            raise SystemExit(f"{name} answered {response['statusCode']}")
    return timings


if __name__ == "__main__":
    main()
