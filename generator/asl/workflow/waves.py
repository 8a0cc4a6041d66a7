"""One wave, fanned out: its approval, its target groups, each group's accounts (child executions), each
account's regions; then the wave's failure-budget check."""

from __future__ import annotations

from typing import Any

from troposphere import Sub

from generator.asl.chain import Chain, chain
from generator.asl.states import Catch, Fail, Map, Pass
from generator.asl.tasks import TableTarget, distributed_map_grants
from generator.asl.workflow.approval import wave_approval
from generator.asl.workflow.functions import WorkflowFunctions
from generator.asl.workflow.invoke import ON_ANY_ERROR, invoke
from generator.asl.workflow.target import target

__all__ = ["account", "target_group", "wave"]


def wave(functions: WorkflowFunctions, run_table: TableTarget, state_machine_name: Sub) -> Chain:
    """The approval hook, every target group, then EvaluateWave, closed; a halted wave fails at WaveHalted."""
    halted = Fail("WaveHalted", error_path="$.error.Error", cause_path="$.error.Cause")
    evaluate = invoke(
        "EvaluateWave",
        functions.evaluate_wave,
        payload={"runId.$": "$.runId", "wave.$": "$.wave"},
        result_path=None,
        comment="Records the wave; raises FailureBudgetExceeded or TargetsUnrecorded to halt the run.",
        catch=(Catch(ON_ANY_ERROR, halted),),
    )
    target_groups = Map(
        "TargetGroups",
        target_group(functions, state_machine_name).graph(),
        items_path="$.wave.targets",
        item_selector={
            "runId.$": "$.runId",
            "executionId.$": "$.executionId",
            "settings.$": "$.settings",
            "wave": {
                "index.$": "$.wave.index",
                "maxConcurrency.$": "$.wave.maxConcurrency",
                "maxErrors.$": "$.wave.maxErrors",
            },
            "group.$": "$$.Map.Item.Value",
        },
        max_concurrency=1,
        result_path=None,
        comment="Groups one after another, so concurrency.accounts is the real limit.",
        # EvaluateWave judges the wave from its target records, whatever stopped the groups.
        catch=(Catch(ON_ANY_ERROR, evaluate, result_path=None),),
    )
    approval = wave_approval(functions.request_approval, run_table, halt=halted)
    return chain(approval, target_groups, evaluate).close()


def target_group(functions: WorkflowFunctions, state_machine_name: Sub) -> Chain:
    """One group of a wave: its accounts as child executions, each over its regions; closed."""
    incomplete = Pass(
        "AccountsIncomplete",
        comment="EvaluateWave finds the missing target records and halts the run.",
        end=True,
    )
    accounts = Map(
        "Accounts",
        account(functions).graph(),
        items_path="$.group.accounts",
        item_selector=_carried(**{"accountId.$": "$$.Map.Item.Value", "regions.$": "$.group.regions"}),
        max_concurrency_path="$.settings.concurrency.accounts",
        mode="DISTRIBUTED",
        execution_type="STANDARD",
        tolerated_failure_percentage=100,
        label="Accounts",
        result_path=None,
        comment="Each account runs as a child execution; one account's failure never stops another's.",
        catch=(Catch(ON_ANY_ERROR, incomplete, result_path=None),),
        grants=distributed_map_grants(state_machine_name),
    )
    return chain(accounts).close()


def account(functions: WorkflowFunctions) -> Chain:
    """One account (a child execution): its regions, a target each; closed."""
    incomplete = Pass(
        "RegionsIncomplete",
        parameters={"accountId.$": "$.accountId"},
        comment="EvaluateWave finds the missing target records and halts the run.",
        end=True,
    )
    regions = Map(
        "Regions",
        target(functions).graph(),
        items_path="$.regions",
        item_selector=_carried(**{"accountId.$": "$.accountId", "region.$": "$$.Map.Item.Value"}),
        max_concurrency_path="$.settings.concurrency.regions",
        result_path=None,
        comment="Targets record their own failures; a failure here means a record could not be written.",
        catch=(Catch(ON_ANY_ERROR, incomplete, result_path=None),),
    )
    return chain(regions, Pass("AccountDone", parameters={"accountId.$": "$.accountId"}, end=True))


def _carried(**extra: Any) -> dict[str, Any]:
    """What every iteration below a wave carries down: the run id and its execution's, the run's settings, the slim
    wave."""
    return {
        "runId.$": "$.runId",
        "executionId.$": "$.executionId",
        "settings.$": "$.settings",
        "wave.$": "$.wave",
        **extra,
    }
