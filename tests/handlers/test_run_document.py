"""The run document: one schema for ValidateRun, the CLI and the docs; every refusal names the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from generator.__main__ import cli
from handlers.contract import run_document
from handlers.contract.errors import InvalidRunDocument

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
CONCURRENCY = {"accounts": 10, "regions": 5}
# Approvals where the document asks (the policy's own rules: test_approval_policy.py).
POLICY = run_document.ApprovalPolicy("run-document", ("ops@example.com", "lead@example.com"), 1, 10080)
VALID: dict[str, Any] = {
    "operation": "Install",
    "rebootOption": "RebootIfNeeded",
    "selector": {"tags": {"PatchGroup": ["web"]}},
    "waves": [
        {"name": "canary", "targets": [{"accounts": ["111111111111"], "regions": ["eu-west-1"]}]},
        {
            "name": "fleet",
            "targets": [{"accounts": ["222222222222"], "regions": ["eu-west-1", "us-east-1"]}],
            "approval": {"required": False},
        },
    ],
}


def changed(path: str, value: Any) -> dict[str, Any]:
    """VALID with the field at dotted ``path`` (list indexes as numbers) set to ``value``, or removed if ...``."""
    document = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return document


def refusal(document: Any, run_id: str = "run-1") -> str:
    with pytest.raises(InvalidRunDocument) as refused:
        run_document.normalise(document, run_id=run_id, default_concurrency=CONCURRENCY, approval_policy=POLICY)
    return str(refused.value)


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft7Validator.check_schema(run_document.schema())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_examples_are_valid_run_documents(path: Path) -> None:
    document = json.loads(path.read_text())
    run = run_document.normalise(
        document, run_id=document.get("runId", "example"), default_concurrency=CONCURRENCY, approval_policy=POLICY
    )
    assert run["waves"]
    jsonschema.validate(document, run_document.schema())  # the reference validator agrees


def test_examples_cover_canary_then_fleet_scan_only_single_account_and_a_scheduled_window() -> None:
    assert [path.stem for path in EXAMPLES] == [
        "canary-then-fleet", "scan-only", "scheduled-canary-then-fleet", "single-account",
    ]  # fmt: skip


def test_defaults_come_from_the_schema() -> None:
    run = run_document.normalise(VALID, run_id="run-1", default_concurrency=CONCURRENCY, approval_policy=POLICY)
    wave = run["waves"][0]
    schema_wave = run_document.schema()["definitions"]["wave"]["properties"]

    assert wave["maxConcurrency"] == schema_wave["maxConcurrency"]["default"]
    assert wave["maxErrors"] == schema_wave["maxErrors"]["default"]
    assert wave["failureBudget"] == {"failedPercent": 0, "unreachablePercent": 100}
    assert wave["approval"] == {"required": False}
    assert run["settings"]["preCollect"] == {"enabled": True}
    assert run["settings"]["patchTimeoutMinutes"] == 180
    assert run["settings"]["concurrency"] == CONCURRENCY
    assert [w["targetCount"] for w in run["waves"]] == [1, 2]


def test_a_required_approval_carries_its_timeout_in_seconds_and_each_wave_its_record_key() -> None:
    approval = {"required": True, "timeoutMinutes": 90, "approvers": ["ops@example.com"]}
    run = run_document.normalise(
        changed("waves.0.approval", approval), run_id="run-1", default_concurrency=CONCURRENCY, approval_policy=POLICY
    )

    # The callback task's TimeoutSecondsPath, and the quorum the workflow checks itself.
    assert run["waves"][0]["approval"] == {**approval, "minimumApprovers": 1, "timeoutSeconds": 5400}
    assert [wave["recordKey"] for wave in run["waves"]] == ["WAVE#00", "WAVE#01"]


def test_approvals_may_not_wait_longer_in_all_than_half_the_run() -> None:
    one_week = {"required": True, "timeoutMinutes": 10080, "approvers": ["ops@example.com"]}
    assert run_document.normalise(
        changed("waves.0.approval", one_week), run_id="r", default_concurrency=CONCURRENCY, approval_policy=POLICY
    )

    both = changed("waves.1.approval", {**one_week, "timeoutMinutes": 5})
    both["waves"][0]["approval"] = one_week
    with pytest.raises(InvalidRunDocument, match=r"^waves\[1\]\.approval\.timeoutMinutes: .* 10085 minutes in all"):
        run_document.normalise(both, run_id="r", default_concurrency=CONCURRENCY, approval_policy=POLICY)


def test_run_concurrency_overrides_the_hub_default() -> None:
    run = run_document.normalise(
        changed("concurrency", {"regions": 2}), run_id="run-1", default_concurrency=CONCURRENCY, approval_policy=POLICY
    )
    assert run["settings"]["concurrency"] == {"accounts": 10, "regions": 2}


def test_snapshot_id_and_digest_are_stable() -> None:
    assert run_document.snapshot_id("run-1") == run_document.snapshot_id("run-1") != run_document.snapshot_id("run-2")
    reordered = json.loads(json.dumps(VALID, sort_keys=True))
    assert run_document.digest(VALID) == run_document.digest(reordered)


MALFORMED: list[tuple[Any, str]] = [
    (changed("operation", ...), "(document): must contain ['operation'"),
    (changed("operation", "Patch"), "operation: must be one of"),
    (changed("rebootOption", "Always"), "rebootOption: must be one of"),
    (changed("rebootOption", ...), "'rebootOption'"),
    (changed("selector", ...), "'selector'"),
    (changed("selector.tags", {}), "selector.tags: must contain at least 1"),
    (changed("selector.tags.PatchGroup", []), "selector.tags.PatchGroup: must contain at least 1"),
    (changed("selector.tags.PatchGroup", "web"), "selector.tags.PatchGroup: must be array"),
    (changed("selector.instanceIds", ["i-1"]), "selector: must not contain {'instanceIds'}"),
    (changed("selector.tags", {"Environment": ["prod"]}), "selector.tags: must include 'PatchGroup'"),
    (changed("selector.tags.a+b", ["x"]), "selector.tags: must be named by propertyName definition"),
    (changed("waves", []), "waves: must contain at least 1"),
    (changed("waves", ...), "'waves'"),
    (changed("waves.0.name", "canary wave"), "waves[0].name: must match pattern"),
    (changed("waves.1.name", "canary"), "waves[1].name: 'canary' is already the name of waves[0]"),
    (changed("waves.0.targets", []), "waves[0].targets: must contain at least 1"),
    (changed("waves.0.targets.0.accounts", ["12345"]), "waves[0].targets[0].accounts[0]: must match pattern"),
    (changed("waves.0.targets.0.accounts", [111111111111]), "waves[0].targets[0].accounts[0]: must be string"),
    (changed("waves.0.targets.0.regions", ["eu-west-9"]), "waves[0].targets[0].regions[0]: 'eu-west-9' is not"),
    (changed("waves.0.targets.0.regions", ["EU-WEST-1"]), "waves[0].targets[0].regions[0]: must match pattern"),
    (changed("waves.0.targets.0.regions", []), "waves[0].targets[0].regions: must contain at least 1"),
    (changed("waves.0.maxConcurrency", "110%"), "waves[0].maxConcurrency: must match pattern"),
    (changed("waves.0.maxConcurrency", "-1"), "waves[0].maxConcurrency: must match pattern"),
    (changed("waves.0.maxConcurrency", "0"), "waves[0].maxConcurrency: must match pattern"),
    (changed("waves.0.maxConcurrency", 5), "waves[0].maxConcurrency: must be string"),
    (changed("waves.0.maxErrors", "101%"), "waves[0].maxErrors: must match pattern"),
    (changed("waves.0.approval", {"timeoutMinutes": 60}), "waves[0].approval: must contain ['required']"),
    (
        changed("waves.0.approval", {"required": True, "timeoutMinutes": 60, "approvers": []}),
        "waves[0].approval.approvers: must contain at least 1",
    ),
    (changed("waves.0.approval", {"required": "yes"}), "waves[0].approval.required: must be boolean"),
    (changed("waves.0.failureBudget", {"failedPercent": 120}), "waves[0].failureBudget.failedPercent: must be"),
    (changed("waves.0.extra", True), "waves[0]: must not contain {'extra'}"),
    (changed("unknown", 1), "(document): must not contain {'unknown'}"),
    (changed("patchTimeoutMinutes", 5), "patchTimeoutMinutes: must be bigger than or equal to 10"),
    (changed("concurrency", {"accounts": 0}), "concurrency.accounts: must be bigger than or equal to 1"),
    (changed("runId", "has spaces"), "runId: must match pattern"),
    (changed("runId", "other-run"), "runId: 'other-run' differs from the execution name 'run-1'"),
    (changed("waves.1.targets.0.accounts", ["111111111111"]), "account 111111111111 in eu-west-1 is already"),
    (["not", "an", "object"], "(document): must be a JSON object, got list"),
    (None, "(document): must be a JSON object, got NoneType"),
]


@pytest.mark.parametrize(("document", "field"), MALFORMED)
def test_malformed_documents_are_refused_naming_the_field(document: Any, field: str) -> None:
    assert field in refusal(document)


def test_oversize_documents_are_refused() -> None:
    huge = changed("waves.0.targets.0.accounts", [f"{n:012d}" for n in range(1, 12_001)])
    assert refusal(huge).startswith("(document): ")
    assert "byte limit" in refusal(huge)


def test_check_run_command_accepts_examples_and_names_the_field_of_a_bad_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(changed("waves.0.maxConcurrency", "110%")))
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")

    good = CliRunner().invoke(cli, ["check-run", "--environment", "prod", *map(str, EXAMPLES)])
    refused = CliRunner().invoke(cli, ["check-run", "-e", "prod", str(bad), str(not_json)])

    assert good.exit_code == 0, good.output
    assert good.output.count(": ok (") == len(EXAMPLES)
    assert refused.exit_code == 1
    assert f"{bad}: waves[0].maxConcurrency: must match pattern" in refused.output
    assert f"{not_json}: (document): not valid JSON" in refused.output
    assert "2 of 2 run documents refused" in refused.output


def test_a_hub_limited_to_some_accounts_refuses_a_run_targeting_any_other() -> None:
    """The hub's TargetAccountIds: a run may not reach accounts the deployer did not name (empty: any)."""
    allowed = run_document.target_accounts("111111111111, 222222222222")
    assert allowed == {"111111111111", "222222222222"}
    assert run_document.normalise(
        VALID, run_id="run-1", default_concurrency=CONCURRENCY, approval_policy=POLICY, allowed_accounts=allowed
    )
    elsewhere = changed("waves.1.targets", [{"accounts": ["333333333333"], "regions": ["eu-west-1"]}])
    with pytest.raises(InvalidRunDocument) as refused:
        run_document.normalise(
            elsewhere, run_id="run-1", default_concurrency=CONCURRENCY, approval_policy=POLICY, allowed_accounts=allowed
        )
    assert str(refused.value) == (
        "waves[1].targets[0].accounts[0]: 333333333333 is not among the accounts this hub may target (TargetAccountIds)"
    )
    assert run_document.target_accounts("") == frozenset()
