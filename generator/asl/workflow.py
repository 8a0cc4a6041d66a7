"""The patch-run workflow of the hub state machine.

Current scope: record the run, walk the run document's waves strictly in order, record the outcome. The
per-wave patch chain (discover, snapshot, patch, poll, record) plugs into ``_wave_processor``.
"""

from __future__ import annotations

from generator.asl.chain import chain
from generator.asl.graph import CATCH_ALL, StateMachineDefinition
from generator.asl.states import Catch, Fail, Graph, Map, Pass, Succeed
from generator.asl.tasks import TableTarget, dynamodb_put_item, dynamodb_update_item

# Long enough for approvals that wait over a weekend; a run that outlives it is stopped by Step Functions.
RUN_TIMEOUT_SECONDS = 7 * 24 * 3600

RUN_KEY = {"pk": {"S.$": "States.Format('RUN#{}', $$.Execution.Name)"}, "sk": {"S": "META"}}


def patch_run_workflow(run_table: TableTarget) -> StateMachineDefinition:
    """The hub's patch run: one execution per run document, named by its run id."""
    record_failure = dynamodb_update_item(
        "RecordRunFailed",
        run_table,
        key=RUN_KEY,
        update_expression="SET #status = :failed, endedAt = :now, #error = :error",
        expression_attribute_names={"#status": "status", "#error": "error"},
        expression_attribute_values={
            ":failed": {"S": "FAILED"},
            ":now": {"S.$": "$$.State.EnteredTime"},
            ":error": {"S.$": "$.error.Error"},
        },
        result_path=None,
        comment="Best effort: the run still fails if this write fails.",
        catch=(Catch((CATCH_ALL,), "RunFailed", result_path=None),),
    )
    on_error = (Catch((CATCH_ALL,), record_failure.name),)
    failure_path = chain(
        record_failure,
        Fail("RunFailed", error_path="$.error.Error", cause_path="$.error.Cause"),
    )
    record_started = dynamodb_put_item(
        "RecordRunStarted",
        run_table,
        item={
            **RUN_KEY,
            "status": {"S": "RUNNING"},
            "startedAt": {"S.$": "$$.State.EnteredTime"},
            "stateMachine": {"S.$": "$$.StateMachine.Id"},
        },
        condition_expression="attribute_not_exists(pk)",
        comment="Conditional: a run id is used once; a second start must not patch again.",
        catch=(
            Catch(("DynamoDB.ConditionalCheckFailedException",), "RunAlreadyExists", result_path=None),
            *on_error,
        ),
    )
    waves = Map(
        "Waves",
        _wave_processor(),
        items_path="$.waves",
        item_selector={
            "runId.$": "$$.Execution.Name",
            "waveIndex.$": "$$.Map.Item.Index",
            "wave.$": "$$.Map.Item.Value",
        },
        max_concurrency=1,
        result_path=None,
        comment="Waves run strictly one after another.",
        catch=on_error,
    )
    record_succeeded = dynamodb_update_item(
        "RecordRunSucceeded",
        run_table,
        key=RUN_KEY,
        update_expression="SET #status = :succeeded, endedAt = :now",
        expression_attribute_names={"#status": "status"},
        expression_attribute_values={
            ":succeeded": {"S": "SUCCEEDED"},
            ":now": {"S.$": "$$.State.EnteredTime"},
        },
        catch=on_error,
    )
    body = chain(record_started, waves, record_succeeded, Succeed("RunSucceeded")).include(
        failure_path,
        Fail("RunAlreadyExists", error="RunAlreadyExists", cause="A run with this id has already started."),
    )
    return StateMachineDefinition(
        body.graph(),
        comment="EC2 patch run: waves in order, each wave across its accounts and regions.",
        timeout_seconds=RUN_TIMEOUT_SECONDS,
    )


def _wave_processor() -> Graph:
    """What happens to one wave."""
    plan = Pass(
        "PlanWave",
        parameters={"wave.$": "$.wave.name", "waveIndex.$": "$.waveIndex", "runId.$": "$.runId"},
        end=True,
    )
    return chain(plan).graph()
