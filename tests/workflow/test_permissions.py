"""Every AWS call a handler makes in a rehearsal is allowed by the role the templates give it.

moto does not enforce IAM, so a handler can call an API its role lacks and every rehearsal still passes. This
test records the calls (hub-side ones against the function's own role, spoke-side ones against the spoke role)
across runs that exercise every handler path, and checks each against the generated policies.
"""

from __future__ import annotations

import json
from typing import Any

from rehearsal import approvals
from rehearsal.fleet import NEVER, Behaviour
from rehearsal.hub import Rehearsal
from rehearsal.template import generated_template, hub_functions
from tests.handlers.test_cancel_run import RUN_ID, started_run, status_change

IAM_PREFIX = {"stepfunctions": "states"}
A, B = "111111111111", "222222222222"
REGION = "eu-west-1"


def allowed_actions(role: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for policy in role["Properties"]["Policies"]:
        document = policy["PolicyDocument"]
        for statement in document["Statement"]:
            found = statement["Action"]
            actions.update(found if isinstance(found, list) else [found])
    return actions


def test_every_call_made_in_rehearsals_is_allowed_by_the_generated_roles(hub: Rehearsal) -> None:
    hub.fleet.add(A, REGION, 2)
    hub.fleet.add(A, REGION, 1, patch=Behaviour(status="Failed", response_code=1))
    hub.fleet.add(B, REGION, 1, patch=Behaviour(status=NEVER))
    wave = {
        "name": "all",
        "targets": [{"accounts": [A, B], "regions": [REGION]}],
        "failureBudget": {"failedPercent": 100},
        "maxConcurrency": "100%",  # one batch: the plan fits the 10-minute deadline
    }
    document = {
        "operation": "Install",
        "rebootOption": "NoReboot",
        "selector": {"tags": {"PatchGroup": ["web"]}},
        "patchTimeoutMinutes": 10,
        "waves": [wave],
    }
    first = hub.run(document, "first")
    assert first["status"] == "SUCCEEDED", (first.get("cause"), hub.errors)
    # The re-run fails (nothing was fixed), which also takes Finalize through the failed-run path.
    second = hub.run({**document, "rerun": {"of": "first"}}, "second")
    assert second["status"] == "FAILED", second.get("output")
    # An approved wave: RequestApproval, the confirmation page, the decision (and its replay).
    approval = {"required": True, "timeoutMinutes": 60, "approvers": ["ops@example.com"]}
    hub.subscribe_approver("ops@example.com")
    gated = hub.start({**document, "waves": [{**wave, "approval": approval}]}, "third")
    link = approvals.links(hub.wait_for_approval_requests(1)[0]["message"])["approve"]
    assert approvals.open_link(hub, link)["statusCode"] == 200
    assert approvals.confirm(hub, link)["statusCode"] == 200
    assert approvals.confirm(hub, link)["statusCode"] == 409
    assert hub.wait(gated)["status"] == "SUCCEEDED"
    # A run stopped with a command still running: CancelRun cancels it in the spoke and closes the record.
    started_run(hub)
    hub.declare_execution(RUN_ID, "ABORTED")
    assert hub.invoke("CancelRun", status_change("ABORTED"))["cancelled"] == 1
    # A maintenance window's start (its run is refused by ValidateRun: the document is not one).
    scheduled = {"schedule": "window", "scheduledTime": "2026-12-08T02:00:00Z", "timezone": "UTC", "document": {}}
    assert hub.invoke("StartScheduledRun", scheduled)["started"] is True
    hub.wait(f"{hub.state_machine_arn.replace(':stateMachine:', ':execution:')}:window-20261208T0200Z")
    assert {name for name, *_ in hub.aws_calls} == {function.name for function in hub_functions()}

    assert {function for function, *_ in hub.table_access} >= {"ApprovalPage", "ApprovalDecision", "RequestApproval"}
    assert_table_access_allowed(hub)

    hub_template = generated_template("hub.json")["Resources"]
    spoke_actions = allowed_actions(generated_template("spoke.json")["Resources"]["SpokeRole"])
    missing = []
    for function, side, service, operation in sorted(hub.aws_calls):
        action = f"{IAM_PREFIX.get(service, service)}:{operation}"
        granted = spoke_actions if side == "spoke" else allowed_actions(hub_template[f"{function}FunctionRole"])
        if action not in granted:
            missing.append(f"{function} ({side}) calls {action}")
    assert not missing, json.dumps(missing, indent=2)


def table_conditions(role: dict[str, Any]) -> list[tuple[list[str], list[str]]]:
    """For each run-table statement of a role: the partitions (``dynamodb:LeadingKeys``) and attributes
    (``dynamodb:Attributes``, empty for all) it may touch."""
    found = []
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            condition = statement.get("Condition", {})
            partitions = condition.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
            if partitions is not None:
                attributes = condition.get("ForAllValues:StringEquals", {}).get("dynamodb:Attributes", [])
                found.append((partitions, attributes))
    assert found, "no run-table statement"
    return found


def test_the_page_may_read_its_keys_but_not_the_token() -> None:
    # Independent of the list both the page and its role are built from: DynamoDB requires the key attributes.
    ((_, attributes),) = table_conditions(generated_template("hub.json")["Resources"]["ApprovalPageFunctionRole"])
    assert {"pk", "sk"} <= set(attributes)
    assert not {"taskToken", "tokenDigest"} & set(attributes)


def assert_table_access_allowed(hub: Rehearsal) -> None:
    """Every run-table access made in the rehearsal stays inside its role's partitions and attributes."""
    resources = generated_template("hub.json")["Resources"]
    outside = []
    for function, partition, read in sorted(hub.table_access):
        statements = table_conditions(resources[f"{function}FunctionRole"])
        if not any(
            f"{partition}*" in partitions and (not attributes or (read and set(read) <= set(attributes)))
            for partitions, attributes in statements
        ):
            outside.append(f"{function} reads {list(read) or 'every attribute'} of {partition}* items: {statements}")
    assert not outside, json.dumps(outside, indent=2)
