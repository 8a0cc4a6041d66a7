"""One target (an account x region): discover, snapshot (optional), patch, record; a failure is recorded too."""

from __future__ import annotations

from generator.asl.chain import Chain, branch, chain
from generator.asl.states import Catch, Condition, Pass
from generator.asl.workflow.command_loop import command_loop
from generator.asl.workflow.functions import WorkflowFunctions
from generator.asl.workflow.invoke import ON_ANY_ERROR, invoke, target_payload
from handlers.contract import errors
from handlers.contract.conventions import PATCH, SNAPSHOT

__all__ = ["target"]

_RECORDED = {"status.$": "$.Payload.status", "outcome.$": "$.Payload.outcome"}


def target(functions: WorkflowFunctions) -> Chain:
    """Discover -> [pre-collect snapshots] -> patch -> RecordTarget, closed. Any error on the way is recorded as the
    target's failure (RecordTargetFailure), so siblings carry on."""
    unrecorded = Pass(
        "TargetUnrecorded",
        comment="Recording failed too; EvaluateWave sees the missing record and halts the run.",
        end=True,
    )
    record_failure = invoke(
        "RecordTargetFailure",
        functions.record_target,
        payload=target_payload(**{"error.$": "$.error"}),
        result_selector=_RECORDED,
        result_path="$.target",
        comment="Every instance of the target gets a final record, with the error as the reason.",
        catch=(Catch(ON_ANY_ERROR, unrecorded, result_path=None),),
    )
    refused = Pass(
        "TargetRefused",
        comment="NotThisRun: the event did not match the run's record, plan or approval, so nothing was touched "
        "or recorded; EvaluateWave sees the missing record and halts the run.",
        end=True,
    )
    on_failure = (
        # Recording the failure would be refused the same way: the run itself is in doubt, not the target.
        Catch((errors.NotThisRun.error_name(),), refused, result_path=None),
        Catch(ON_ANY_ERROR, chain(record_failure).close()),
    )
    discover = invoke(
        "Discover",
        functions.discover,
        payload=target_payload(),
        result_selector={"targeted.$": "$.Payload.targeted", "unreachable.$": "$.Payload.unreachable"},
        result_path="$.discovery",
        catch=on_failure,
    )
    store = invoke(
        "StoreSnapshots",
        functions.store_snapshots,
        payload=target_payload(command={"commandId.$": "$.command.commandId"}),
        result_path=None,
        catch=on_failure,
    )
    record = invoke(
        "RecordTarget",
        functions.record_target,
        payload=target_payload(),
        result_selector=_RECORDED,
        result_path="$.target",
        catch=on_failure,
    )
    send, poll = functions.send_command, functions.poll_command
    snapshots = command_loop(SNAPSHOT, "Snapshot", send=send, poll=poll, on_failure=on_failure).then(store)
    patch = command_loop(PATCH, "Patch", send=send, poll=poll, on_failure=on_failure)
    pre_collect = branch(
        "PreCollectEnabled",
        [(Condition.compare("$.settings.preCollect.enabled", "BooleanEquals", True), snapshots)],
    )
    reachable = branch(
        "AnyReachable",
        [(Condition.compare("$.discovery.targeted", "NumericGreaterThan", 0), pre_collect.then(patch))],
    )
    return chain(discover, reachable, record).close()
