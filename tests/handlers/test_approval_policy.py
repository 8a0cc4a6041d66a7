"""The approval policy is the deployer's: a run document may ask for more approval, never for less."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from handlers.contract import run_document
from handlers.contract.errors import InvalidRunDocument
from handlers.contract.run_document import ApprovalPolicy

APPROVERS = ("ops@example.com", "lead@example.com", "night.shift@example.com")
CONCURRENCY = {"accounts": 10, "regions": 5}
THREE_WAVES: dict[str, Any] = {
    "operation": "Install",
    "rebootOption": "RebootIfNeeded",
    "selector": {"tags": {"PatchGroup": ["web"]}},
    "waves": [
        {"name": name, "maxConcurrency": "100%", "targets": [{"accounts": [account], "regions": ["eu-west-1"]}]}
        for name, account in (("canary", "111111111111"), ("early", "222222222222"), ("fleet", "333333333333"))
    ],
}


def policy(required: str = "after-first", *, minimum: int = 1, maximum: int = 240) -> ApprovalPolicy:
    return ApprovalPolicy(required, APPROVERS, minimum, maximum)


def approvals(document: dict[str, Any], applied: ApprovalPolicy) -> list[dict[str, Any]]:
    run = run_document.normalise(document, run_id="run-1", default_concurrency=CONCURRENCY, approval_policy=applied)
    return [wave["approval"] for wave in run["waves"]]


def asking(index: int, approval: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(THREE_WAVES)
    document["waves"][index]["approval"] = approval
    return document


def refusal(document: dict[str, Any], applied: ApprovalPolicy) -> str:
    with pytest.raises(InvalidRunDocument) as refused:
        approvals(document, applied)
    return str(refused.value)


def test_by_default_every_wave_after_the_first_waits_for_all_the_hubs_approvers() -> None:
    """The review's run: no approval block at all, everything at 100%, accepted and patched. No longer."""
    canary, early, fleet = approvals(THREE_WAVES, policy())
    assert canary == {"required": False}
    assert (
        early
        == fleet
        == {
            "required": True,
            "approvers": list(APPROVERS),
            "minimumApprovers": 1,
            "timeoutMinutes": 240,
            "timeoutSeconds": 14400,
        }
    )


def test_every_wave_waits_when_the_policy_says_all() -> None:
    assert all(approval["required"] for approval in approvals(THREE_WAVES, policy("all")))


def test_a_document_may_not_waive_an_approval_the_policy_requires() -> None:
    message = refusal(asking(1, {"required": False}), policy())
    assert message == (
        "waves[1].approval.required: false, but the hub requires approval of every wave after the first "
        "(ApprovalRequiredWaves)"
    )


def test_a_document_may_ask_for_an_approval_the_policy_does_not_require_and_for_fewer_approvers() -> None:
    canary, *_ = approvals(asking(0, {"required": True, "approvers": ["lead@example.com"]}), policy("after-first"))
    assert (canary["required"], canary["approvers"]) == (True, ["lead@example.com"])
    as_asked = approvals(THREE_WAVES, policy("run-document"))
    assert [approval["required"] for approval in as_asked] == [False, False, False]


def test_only_the_hubs_approvers_may_be_named_whatever_the_case() -> None:
    mine = asking(1, {"required": True, "approvers": ["OPS@example.com", "mallory@example.com"]})
    assert refusal(mine, policy()) == (
        "waves[1].approval.approvers: mallory@example.com not among the hub's approvers (Approvers parameter)"
    )


def test_a_wave_names_at_least_as_many_approvers_as_must_agree() -> None:
    one = asking(1, {"required": True, "approvers": ["ops@example.com"]})
    assert refusal(one, policy(minimum=2)) == (
        "waves[1].approval.approvers: 1 named, but the hub needs 2 distinct approvers to agree (MinimumApprovers)"
    )
    (_, early, _) = approvals(THREE_WAVES, policy(minimum=2))
    assert early["minimumApprovers"] == 2


def test_links_live_no_longer_than_the_policy_allows() -> None:
    long = asking(1, {"required": True, "timeoutMinutes": 241})
    assert refusal(long, policy(maximum=240)) == (
        "waves[1].approval.timeoutMinutes: 241 is over the hub's 240-minute limit on approval links "
        "(MaximumApprovalMinutes)"
    )
    (_, early, _) = approvals(asking(1, {"required": True, "timeoutMinutes": 30}), policy(maximum=240))
    assert (early["timeoutMinutes"], early["timeoutSeconds"]) == (30, 1800)


def test_a_hub_that_requires_approval_but_names_no_approvers_refuses_the_run() -> None:
    nobody = ApprovalPolicy("after-first", (), 1, 240)
    assert refusal(THREE_WAVES, nobody) == (
        "waves[1].approval: the wave needs approval, but the hub names no approvers (Approvers)"
    )


def test_the_policy_reads_the_stacks_settings() -> None:
    read = ApprovalPolicy.from_settings("all", " ops@example.com,lead@example.com ,", 2, 60)
    assert read == ApprovalPolicy("all", ("ops@example.com", "lead@example.com"), 2, 60)
    with pytest.raises(ValueError, match="'some' is not one of"):
        ApprovalPolicy.from_settings("some", "", 1, 60)
