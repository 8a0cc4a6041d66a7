"""The patch-run workflow of the hub state machine (see ``output/hub-workflow.md`` for the picture).

ValidateRun -> Waves (one at a time) -> [approval] -> TargetGroups -> Accounts (Distributed Map: each
account is a child execution, so the run's own history stays small at any fleet size) -> Regions -> one target:
Discover -> [pre-collect snapshots] -> SendPatch -> Wait/Poll loop -> RecordTarget. Any error inside a target is
caught and recorded as that target's failure; siblings carry on. EvaluateWave halts the run when a wave breaks
its failure budget; Finalize always runs and decides the outcome (200 / 206 / 500).

Each step is a fragment with one start and explicit ends: ``waves`` (wave, target group, account), ``approval``,
``target``, ``command_loop``; ``records`` holds the run-table writes the state machine makes itself. State
payloads carry ids and counts only; instance details live in the run table and the artifact bucket.
"""

from __future__ import annotations

from troposphere import Sub

from generator.asl.chain import branch, chain
from generator.asl.graph import StateMachineDefinition
from generator.asl.states import Catch, Condition, Fail, Map, Pass, Succeed
from generator.asl.tasks import TableTarget
from generator.asl.workflow.functions import WorkflowFunctions
from generator.asl.workflow.invoke import ON_ANY_ERROR, invoke
from generator.asl.workflow.records import record_run_failed
from generator.asl.workflow.waves import wave
from handlers.contract import conventions
from handlers.contract.table import RunStatus

__all__ = ["RUN_TIMEOUT_SECONDS", "WorkflowFunctions", "patch_run_workflow"]

# The run document keeps approval waits to half of it (handlers.contract.conventions).
RUN_TIMEOUT_SECONDS = conventions.RUN_TIMEOUT_SECONDS


def patch_run_workflow(
    functions: WorkflowFunctions, *, run_table: TableTarget, state_machine_name: Sub
) -> StateMachineDefinition:
    """The hub's patch run: one execution per run document, named by its run id."""
    rejected = Fail("RunRejected", error_path="$.Error", cause_path="$.Cause")
    validate = invoke(
        "ValidateRun",
        functions.validate_run,
        payload={"runId.$": "$$.Execution.Name", "executionId.$": "$$.Execution.Id", "document.$": "$"},
        result_selector={"run.$": "$.Payload"},
        result_path="$",
        comment="Refuses an invalid document (naming the field) before anything is sent; records the run once.",
        # The error replaces the input: "$.error" cannot be set on an input that is not a JSON object.
        catch=(Catch(ON_ANY_ERROR, rejected, result_path="$"),),
    )
    failed = Fail("RunFailed", error_path="$.error.Error", cause_path="$.error.Cause")
    record_failed = chain(record_run_failed(run_table, catch=(Catch(ON_ANY_ERROR, failed, result_path=None),)), failed)
    finalize = invoke(
        "Finalize",
        functions.finalize,
        payload={"runId.$": "$.run.runId", "halt.$": "$.halt"},
        result_selector={
            "runId.$": "$.Payload.runId",
            "status.$": "$.Payload.status",
            "outcome.$": "$.Payload.outcome",
            "reason.$": "$.Payload.reason",
            "errorName.$": "$.Payload.errorName",
            "report.$": "$.Payload.report",
        },
        result_path="$",
        comment="Always runs; its result is the execution's output.",
        catch=(Catch(ON_ANY_ERROR, record_failed),),
    )
    waves = Map(
        "Waves",
        wave(functions, run_table, state_machine_name).graph(),
        items_path="$.run.waves",
        item_selector={
            "runId.$": "$.run.runId",
            # Carried down to every fleet function, which acts only for the execution the run record names (a
            # Distributed Map child has an id of its own, so this is read here, in the run's own execution).
            "executionId.$": "$$.Execution.Id",
            "settings.$": "$.run.settings",
            "wave.$": "$$.Map.Item.Value",
        },
        max_concurrency=1,
        result_path=None,
        comment="Waves strictly in order; a halted wave fails its iteration, so later waves never start.",
        catch=(Catch(ON_ANY_ERROR, finalize, result_path="$.halt"),),
    )
    succeeded = Condition.any_of(
        Condition.compare("$.status", "StringEquals", RunStatus.SUCCEEDED),
        Condition.compare("$.status", "StringEquals", RunStatus.PARTIAL),
    )
    outcome = branch(
        "RunOutcome",
        [(succeeded, Succeed("RunSucceeded", comment="200, or 206 with the report."))],
        otherwise=Fail("RunDidNotSucceed", error_path="$.errorName", cause_path="$.reason"),
    )
    body = chain(
        validate,
        waves,
        Pass("NoHalt", result={}, result_path="$.halt", comment="Finalize reads $.halt on every path."),
        finalize,
        outcome,
    )
    return StateMachineDefinition(
        body.graph(),
        comment="EC2 patch run: waves in order; each wave across its accounts and regions.",
        timeout_seconds=RUN_TIMEOUT_SECONDS,
    )
