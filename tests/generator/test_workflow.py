"""Structural guarantees of the generated patch-run workflow (checked on the JSON CloudFormation receives)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from generator.asl.tasks import DYNAMODB_TRANSIENT_ERRORS, LAMBDA_CRASH_ERRORS, LAMBDA_TRANSIENT_ERRORS
from handlers.contract import errors, run_document, table
from handlers.contract.table import RunStatus, WaveApprovalStatus, WaveStatus
from handlers.send_command import LEASE
from rehearsal.template import generated_template

HANDLER_ERRORS = {error.error_name() for error in errors.ALL_ERRORS}
AWS_ERRORS = set(LAMBDA_TRANSIENT_ERRORS) | set(LAMBDA_CRASH_ERRORS) | set(DYNAMODB_TRANSIENT_ERRORS)
# The run-table writes the state machine makes itself, and the status each one records.
OWN_WRITES = {
    "RecordRunFailed": (table.RUN_FAILED, ":failed", RunStatus.FAILED),
    "RecordApproval": (table.WAVE_APPROVED, ":status", WaveApprovalStatus.APPROVED),
    "RecordApprovalRejected": (table.WAVE_REJECTED, ":status", WaveApprovalStatus.REJECTED),
    "RecordApprovalTimedOut": (table.WAVE_APPROVAL_TIMED_OUT, ":status", WaveApprovalStatus.TIMED_OUT),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return generated_template("hub.json")


@pytest.fixture(scope="module")
def definition(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"]["PatchRunStateMachine"]["Properties"]["Definition"])


def scopes(scope: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, scope) for the top level and every Map processor / Parallel branch."""
    yield path or "(top)", scope
    for name, state in scope["States"].items():
        if "ItemProcessor" in state:
            yield from scopes(state["ItemProcessor"], f"{path}/{name}")
        for index, branch in enumerate(state.get("Branches", [])):
            yield from scopes(branch, f"{path}/{name}[{index}]")


def states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for _, scope in scopes(definition):
        yield from scope["States"].items()


def lambda_tasks(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states(definition):
        if state["Type"] == "Task" and "lambda:invoke" in state["Resource"]["Fn::Sub"]:
            yield name, state


def test_every_error_name_in_retry_and_catch_exists(definition: dict[str, Any]) -> None:
    for name, state in states(definition):
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                assert error.startswith("States.") or error in HANDLER_ERRORS | AWS_ERRORS, (name, error)


def test_every_lambda_task_retries_transient_errors_with_full_jitter_and_catches(definition: dict[str, Any]) -> None:
    tasks = dict(lambda_tasks(definition))
    assert len(tasks) == 12
    for name, task in tasks.items():
        retried = {error for rule in task["Retry"] for error in rule["ErrorEquals"]}
        assert {*LAMBDA_TRANSIENT_ERRORS, *LAMBDA_CRASH_ERRORS, "TransientAwsError"} <= retried, name
        transient = [rule for rule in task["Retry"] if rule["ErrorEquals"] != ["CommandLedgerBusy"]]
        assert all(rule["JitterStrategy"] == "FULL" and rule["MaxDelaySeconds"] > 0 for rule in transient), name
        assert task["Catch"], name


def test_a_busy_command_ledger_is_retried_for_longer_than_its_lease(definition: dict[str, Any]) -> None:
    for name in ("SendSnapshot", "SendPatch"):
        (rule,) = [r for r in dict(states(definition))[name]["Retry"] if r["ErrorEquals"] == ["CommandLedgerBusy"]]
        waits = [
            min(rule["IntervalSeconds"] * rule["BackoffRate"] ** n, rule["MaxDelaySeconds"])
            for n in range(rule["MaxAttempts"])
        ]
        assert rule["JitterStrategy"] == "NONE"
        assert sum(waits) > LEASE.total_seconds(), name


def test_every_task_outlasts_its_function_timeout(template: dict[str, Any], definition: dict[str, Any]) -> None:
    substitutions = template["Resources"]["PatchRunStateMachine"]["Properties"]["DefinitionSubstitutions"]
    shortest_approval = run_document.schema()["definitions"]["approval"]["properties"]["timeoutMinutes"]["minimum"]
    for name, task in lambda_tasks(definition):
        key = task["Parameters"]["FunctionName"].strip("${}")
        function = substitutions[key]["Fn::GetAtt"][0]
        timeout = template["Resources"][function]["Properties"]["Timeout"]
        if task["Resource"]["Fn::Sub"].endswith(".waitForTaskToken"):
            # A callback task waits for people, as long as the wave's approval timeout (at least 5 minutes).
            assert task["TimeoutSecondsPath"] == "$.wave.approval.timeoutSeconds", name
            assert shortest_approval * 60 > timeout, name
        else:
            assert task["TimeoutSeconds"] > timeout, name


def test_waves_run_one_at_a_time_and_accounts_run_as_child_executions(definition: dict[str, Any]) -> None:
    every = dict(states(definition))
    assert every["Waves"]["MaxConcurrency"] == 1
    assert every["TargetGroups"]["MaxConcurrency"] == 1
    accounts = every["Accounts"]
    assert accounts["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert accounts["ToleratedFailurePercentage"] == 100.0
    assert accounts["MaxConcurrencyPath"] == "$.settings.concurrency.accounts"
    assert every["Regions"]["MaxConcurrencyPath"] == "$.settings.concurrency.regions"


def test_every_loop_goes_through_a_poll_that_enforces_the_deadline(definition: dict[str, Any]) -> None:
    loops = 0
    for _, scope in scopes(definition):
        graph = {name: _targets(state) for name, state in scope["States"].items()}
        for start in graph:
            for cycle in _cycles_from(start, graph):
                loops += 1
                polls = [n for n in cycle if n.startswith("Poll") and scope["States"][n]["Type"] == "Task"]
                assert polls, f"unbounded loop {cycle}"
                waits = [scope["States"][n] for n in cycle if scope["States"][n]["Type"] == "Wait"]
                assert all(wait.get("SecondsPath") == "$.command.nextWaitSeconds" for wait in waits), cycle
    assert loops >= 2  # the snapshot and patch poll loops


def test_a_wave_that_requires_approval_waits_for_it_before_any_target(definition: dict[str, Any]) -> None:
    wave = next(scope for path, scope in scopes(definition) if path == "/Waves")
    assert wave["StartAt"] == "ApprovalRequired"
    (rule,) = wave["States"]["ApprovalRequired"]["Choices"]
    assert (rule["Variable"], rule["BooleanEquals"], rule["Next"]) == (
        "$.wave.approval.required",
        True,
        "RequestApproval",
    )
    assert wave["States"]["ApprovalRequired"]["Default"] == "TargetGroups"
    request = wave["States"]["RequestApproval"]
    assert request["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:states:::lambda:invoke.waitForTaskToken"}
    assert request["Parameters"]["Payload"]["taskToken.$"] == "$$.Task.Token"
    # The answer itself is discarded; the wave proceeds only on the decision ApprovalDecision recorded.
    assert request["ResultPath"] is None
    assert request["Next"] == "FindApproval"
    assert wave["States"]["FindApproval"]["Next"] == "ApprovalOpened"
    assert wave["States"]["ApprovalOpened"]["Choices"][0]["Next"] == "ApprovalNotOpened"
    assert wave["States"]["ApprovalOpened"]["Default"] == "ReadDecision"
    assert wave["States"]["ReadDecision"]["Next"] == "DecisionRecorded"
    assert wave["States"]["DecisionRecorded"]["Default"] == "CountApprovers"
    assert wave["States"]["DecisionRecorded"]["Choices"][0]["Next"] == "ExplainUnrecordedDecision"
    # The quorum is counted by the workflow too, against the minimum ValidateRun put in the run.
    assert wave["States"]["CountApprovers"]["Next"] == "QuorumReached"
    (quorum,) = wave["States"]["QuorumReached"]["Choices"]
    assert quorum["NumericLessThanPath"] == "$.wave.approval.minimumApprovers"
    assert quorum["Next"] == "ExplainMissingApprovers"
    assert wave["States"]["QuorumReached"]["Default"] == "RecordApproval"
    for refusal in ("ApprovalNotOpened", "ApprovalNotRecorded", "ApprovalQuorumNotMet"):
        assert wave["States"][refusal]["Error"] == "ApprovalMalformed"
    assert wave["States"]["RecordApproval"]["Next"] == "TargetGroups"
    # What RecordApproval writes comes from the approval item, not from the callback.
    written = wave["States"]["RecordApproval"]["Parameters"]["ExpressionAttributeValues"]
    assert written[":by"] == {"S.$": "$.decision.Item.decidedBy.S"}


def test_the_workflow_reads_approvals_without_their_task_tokens(definition: dict[str, Any]) -> None:
    wave = next(scope for path, scope in scopes(definition) if path == "/Waves")["States"]
    read = wave["ReadDecision"]["Parameters"]
    assert read["ConsistentRead"] is True
    assert "taskToken" not in set(read["ExpressionAttributeNames"].values())
    assert set(read["ExpressionAttributeNames"].values()) == set(table.APPROVAL_DECISION_ATTRIBUTES)


def test_a_rejected_or_timed_out_approval_is_recorded_then_halts_the_run(definition: dict[str, Any]) -> None:
    wave = next(scope for path, scope in scopes(definition) if path == "/Waves")["States"]
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in wave["RequestApproval"]["Catch"]}
    assert catches == {
        ("ApprovalRejected",): "RejectionExplained",
        ("States.Timeout",): "RecordApprovalTimedOut",
        ("States.ALL",): "WaveHalted",
    }
    # The rejection's cause is read only once it is known to be a string (no parsing, nothing uncatchable).
    (explained,) = wave["RejectionExplained"]["Choices"]
    assert explained["Next"] == "RecordApprovalRejected"
    assert wave["RejectionExplained"]["Default"] == "WaveRejected"
    for record, halt, error in (
        ("RecordApprovalRejected", "WaveRejected", "ApprovalRejected"),
        ("RecordApprovalTimedOut", "WaveNotApproved", "ApprovalTimedOut"),
    ):
        assert wave[record]["Next"] == halt
        assert wave[record]["Catch"] == [{"ErrorEquals": ["States.ALL"], "Next": halt, "ResultPath": None}]
        assert wave[record]["Parameters"]["ExpressionAttributeValues"][":halted"] == {"S": WaveStatus.HALTED}
        assert wave[halt] == {"Type": "Fail", "Error": error, "Cause": wave[halt]["Cause"]}
        assert error in {e.error_name() for e in errors.HALTING}


def test_the_workflows_own_run_table_writes_are_the_contracts_named_updates(definition: dict[str, Any]) -> None:
    writes = {name: state for name, state in states(definition) if "dynamodb:updateItem" in str(state.get("Resource"))}
    assert set(writes) == set(OWN_WRITES)
    for name, (update, placeholder, status) in OWN_WRITES.items():
        parameters = writes[name]["Parameters"]
        assert parameters["UpdateExpression"] == update.expression, name
        assert parameters["ConditionExpression"] == update.condition, name
        assert parameters["ExpressionAttributeNames"] == dict(update.names), name
        assert set(parameters["ExpressionAttributeValues"]) == update.placeholders(), name
        assert parameters["ExpressionAttributeValues"][placeholder] == {"S": status}, name
        assert parameters["Key"][table.PARTITION_KEY]["S.$"].startswith(f"States.Format('{table.RUN_PK_FORMAT}', ")


def test_a_failed_finalize_closes_the_run_record_itself(definition: dict[str, Any]) -> None:
    every = dict(states(definition))
    record = every["RecordRunFailed"]
    assert every["Finalize"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "Next": "RecordRunFailed", "ResultPath": "$.error"}
    ]
    assert record["Parameters"]["Key"] == {
        table.PARTITION_KEY: {"S.$": f"States.Format('{table.RUN_PK_FORMAT}', $$.Execution.Name)"},
        table.SORT_KEY: {"S": table.META},
    }
    assert record["Next"] == "RunFailed"
    assert every["RunFailed"]["Type"] == "Fail"


def test_state_machine_role_may_start_its_own_child_executions(template: dict[str, Any]) -> None:
    role = template["Resources"]["PatchRunStateMachineRole"]["Properties"]
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    start = statements["StartChildExecutions"]
    assert start["Action"] == ["states:StartExecution"]
    assert "stateMachine:${Name}" in start["Resource"][0]["Fn::Sub"][0]
    assert statements["WatchChildExecutions"]["Action"] == ["states:DescribeExecution", "states:StopExecution"]


def _targets(state: dict[str, Any]) -> list[str]:
    found = [state[key] for key in ("Next", "Default") if key in state]
    found += [rule["Next"] for rule in state.get("Choices", []) + state.get("Catch", [])]
    return found


def _cycles_from(start: str, graph: dict[str, list[str]]) -> Iterator[list[str]]:
    """Simple cycles that begin and end at ``start`` and whose other nodes sort after it (each cycle once)."""
    stack = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for successor in graph.get(node, []):
            if successor == start:
                yield path
            elif successor not in path and successor > start:
                stack.append((successor, [*path, successor]))


FLEET_FUNCTIONS = {"Discover", "SendCommand", "PollCommand", "StoreSnapshots", "RecordTarget"}


def test_every_fleet_task_carries_the_runs_own_execution_id_and_nothing_that_decides_a_command(
    definition: dict[str, Any],
) -> None:
    fleet_tasks = {
        name: task
        for name, task in lambda_tasks(definition)
        if any(f"${{{function}FunctionArn}}" == task["Parameters"]["FunctionName"] for function in FLEET_FUNCTIONS)
    }
    assert len(fleet_tasks) == 8  # Discover, two sends, two polls, StoreSnapshots, RecordTarget and its failure
    for name, task in fleet_tasks.items():
        payload = task["Parameters"]["Payload"]
        assert payload["executionId.$"] == "$.executionId", name
        assert not {"settings.$", "wave.$", "selector.$", "rerunOf.$"} & set(payload), name
        assert "deadline.$" not in payload.get("command", {}), name
        # A refusal is never retried and never recorded as the target's failure.
        retried = {error for rule in task["Retry"] for error in rule["ErrorEquals"]}
        assert errors.NotThisRun.error_name() not in retried, name
        if name != "RecordTargetFailure":
            assert task["Catch"][0]["ErrorEquals"] == [errors.NotThisRun.error_name()], name
    # Read in the run's own execution, then carried by every map below it (a Distributed Map child has its own id).
    carried = {
        name: state["ItemSelector"]["executionId.$"] for name, state in states(definition) if state["Type"] == "Map"
    }
    assert carried == {
        "Waves": "$$.Execution.Id",
        "TargetGroups": "$.executionId",
        "Accounts": "$.executionId",
        "Regions": "$.executionId",
    }
