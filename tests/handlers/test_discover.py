"""Discover: a target's tagged instances, and which of them SSM can reach (against the simulated fleet)."""

from __future__ import annotations

import pytest

from handlers.contract.errors import InvalidEvent, SpokeAccessDenied
from rehearsal.hub import EXTERNAL_ID, Rehearsal
from tests.handlers.targets import ACCOUNT, DOCUMENT, REGION, discover, instance, record_run, run_table, target


def test_discover_counts_reachable_and_records_why_the_rest_are_not(hub: Rehearsal) -> None:
    record_run(hub)
    online = hub.fleet.add(ACCOUNT, REGION, 55)  # more than one DescribeInstanceInformation filter batch
    offline = hub.fleet.add(ACCOUNT, REGION, 1, ping="ConnectionLost")[0]
    unmanaged = hub.fleet.add(ACCOUNT, REGION, 1, ping=None)[0]
    stopped = hub.fleet.add(ACCOUNT, REGION, 1, stopped=True)[0]
    windows = hub.fleet.add(ACCOUNT, REGION, 1, platform="Windows")[0]
    hub.fleet.add(ACCOUNT, REGION, 3, tags={"PatchGroup": "db"})  # other selector value
    hub.fleet.add("999999999999", REGION, 2)  # other account

    counts = discover(hub)

    assert counts == {"targeted": 56, "unreachable": 3, "platforms": {"linux": 55, "windows": 1}}
    assert len(hub.items("run-1", "INSTANCE#")) == 59
    assert instance(hub, offline)["discovery"] == {
        "reachable": False,
        "reason": "ssm-connectionlost",
        "state": "running",
    }
    assert instance(hub, unmanaged)["discovery"]["reason"] == "not-managed-by-ssm"
    assert instance(hub, stopped)["discovery"]["reason"] == "instance-stopped"
    assert instance(hub, windows)["platform"] == "windows"
    assert instance(hub, online[0])["discovery"]["reachable"] is True


def test_a_rerun_discovers_only_the_instances_the_earlier_run_did_not_patch(hub: Rehearsal) -> None:
    record_run(hub, run_id="earlier")
    hub.invoke("Finalize", {"runId": "earlier", "halt": {}})
    record_run(hub, DOCUMENT | {"rerun": {"of": "earlier"}})
    failed, patched = hub.fleet.add(ACCOUNT, REGION, 2)
    run_table(hub).record_rerun_selection("run-1", "earlier", {(ACCOUNT, REGION): [failed]}, expires_at=1)

    counts = discover(hub)

    assert counts["targeted"] == 1
    assert [item["instanceId"] for item in hub.items("run-1", "INSTANCE#")] == [failed]
    assert patched not in str(hub.items("run-1"))


def test_discover_refuses_an_event_without_its_target_naming_the_field(hub: Rehearsal) -> None:
    record_run(hub)
    incomplete = {key: value for key, value in target(hub).items() if key != "accountId"}
    with pytest.raises(InvalidEvent, match=r"event\.accountId: required"):
        hub.invoke("Discover", incomplete)
    with pytest.raises(InvalidEvent, match=r"event\.waveIndex: expected int, got str"):
        hub.invoke("Discover", target(hub) | {"waveIndex": "0"})


def test_spoke_roles_are_assumed_with_the_external_id_and_the_run_as_source_identity(hub: Rehearsal) -> None:
    record_run(hub)
    discover(hub)

    assert hub.assumed == [
        {
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/patch-orchestrator-spoke-{REGION}",
            "externalId": EXTERNAL_ID,
            "sourceIdentity": "run-1",
        }
    ]


def test_a_spoke_role_that_cannot_be_assumed_is_a_clear_error(hub: Rehearsal) -> None:
    record_run(hub)
    hub.denied_accounts.add(ACCOUNT)

    with pytest.raises(SpokeAccessDenied, match=f"cannot assume arn:aws:iam::{ACCOUNT}:role/patch-orchestrator-spoke-"):
        discover(hub)
