"""The patch-run workflow of the hub state machine (see ``output/hub-workflow.md`` for the picture).

ValidateRun -> Waves (one at a time) -> [approval] -> TargetGroups -> Accounts (Distributed Map: each
account is a child execution, so the run's own history stays small at any fleet size) -> Regions -> one target:
Discover -> [pre-collect snapshots] -> SendPatch -> Wait/Poll loop -> RecordTarget. Any error inside a target is
caught and recorded as that target's failure; siblings carry on. EvaluateWave halts the run when a wave breaks
its failure budget; Finalize always runs and decides the outcome (200 / 206 / 500).

A wave that requires approval waits for it first (RequestApproval, a callback task bounded by the wave's own
timeout). Approved: recorded, the wave proceeds. Rejected or timed out: recorded, and the wave halts the run
before any of its targets is touched.

State payloads carry ids and counts only; instance details live in the run table and the artifact bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from troposphere import Sub

from generator.asl.chain import Chain, branch, chain
from generator.asl.graph import StateMachineDefinition
from generator.asl.states import (
    CATCH_ALL,
    Catch,
    Condition,
    Fail,
    Goto,
    Graph,
    Map,
    Pass,
    Retry,
    State,
    Succeed,
    Task,
    Wait,
)
from generator.asl.tasks import (
    FunctionTarget,
    TableTarget,
    distributed_map_grants,
    dynamodb_update_item,
    lambda_invoke,
    lambda_invoke_wait_for_token,
)
from handlers.contract import conventions, errors, table
from handlers.contract.conventions import PATCH, SNAPSHOT
from handlers.contract.table import Decision, RunStatus, WaveApprovalStatus, WaveStatus

# The run document keeps approval waits to half of it (handlers.contract.conventions).
RUN_TIMEOUT_SECONDS = conventions.RUN_TIMEOUT_SECONDS

# TransientAwsError: throttling that outlasted the SDK's own retries. Back off for minutes, not seconds.
TRANSIENT_AWS_RETRY = Retry(
    (errors.TransientAwsError.error_name(),),
    interval_seconds=5,
    max_attempts=6,
    backoff_rate=2.0,
    max_delay_seconds=120,
    jitter_strategy="FULL",
)
ON_ANY_ERROR = (CATCH_ALL,)
# The run outcome of a failed run (handlers.common.outcomes.FAILED, which the contract does not carry).
FAILED_OUTCOME = "500"
# An earlier SendCommand attempt holds the ledger lease (90 s). Fixed, unjittered waits that together outlast it
# (30 + 60 + 120 + 120 s), so the retry reliably comes after the lease instead of exhausting itself before.
LEDGER_BUSY_RETRY = Retry(
    (errors.CommandLedgerBusy.error_name(),),
    interval_seconds=30,
    max_attempts=4,
    backoff_rate=2.0,
    max_delay_seconds=120,
    jitter_strategy="NONE",
)


@dataclass(frozen=True)
class WorkflowFunctions:
    """The Lambda functions the workflow invokes."""

    validate_run: FunctionTarget
    discover: FunctionTarget
    send_command: FunctionTarget
    poll_command: FunctionTarget
    store_snapshots: FunctionTarget
    record_target: FunctionTarget
    evaluate_wave: FunctionTarget
    finalize: FunctionTarget
    request_approval: FunctionTarget


def patch_run_workflow(
    functions: WorkflowFunctions, *, run_table: TableTarget, state_machine_name: Sub
) -> StateMachineDefinition:
    """The hub's patch run: one execution per run document, named by its run id."""
    rejected = Fail("RunRejected", error_path="$.Error", cause_path="$.Cause")
    validate = _invoke(
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
    record_failed = dynamodb_update_item(
        "RecordRunFailed",
        run_table,
        key=_run_key("$$.Execution.Name", {"S": table.META}),
        update=table.RUN_FAILED,
        values={
            ":failed": {"S": RunStatus.FAILED},
            ":outcome": {"N": FAILED_OUTCOME},
            ":reason": {"S.$": "$.error.Cause"},
            ":now": {"S.$": "$$.State.EnteredTime"},
        },
        comment="Finalize failed: mark the run record failed directly (no Lambda involved), then fail.",
        catch=(Catch(ON_ANY_ERROR, failed, result_path=None),),
    )
    finalize = _invoke(
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
        catch=(Catch(ON_ANY_ERROR, chain(record_failed, failed)),),
    )
    waves = Map(
        "Waves",
        _wave(functions, state_machine_name, run_table),
        items_path="$.run.waves",
        item_selector={"runId.$": "$.run.runId", "settings.$": "$.run.settings", "wave.$": "$$.Map.Item.Value"},
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


def _wave(functions: WorkflowFunctions, state_machine_name: Sub, run_table: TableTarget) -> Graph:
    """One wave: the approval hook, every target group, then the failure-budget check."""
    halted = Fail("WaveHalted", error_path="$.error.Error", cause_path="$.error.Cause")
    evaluate = _invoke(
        "EvaluateWave",
        functions.evaluate_wave,
        payload={"runId.$": "$.runId", "wave.$": "$.wave"},
        result_path=None,
        comment="Records the wave; raises FailureBudgetExceeded or TargetsUnrecorded to halt the run.",
        catch=(Catch(ON_ANY_ERROR, halted),),
    )
    target_groups = Map(
        "TargetGroups",
        _target_group(functions, state_machine_name),
        items_path="$.wave.targets",
        item_selector={
            "runId.$": "$.runId",
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
    approval = branch(
        "ApprovalRequired",
        [
            (
                Condition.compare("$.wave.approval.required", "BooleanEquals", True),
                _approval(functions, run_table, halted),
            )
        ],
    )
    return chain(approval, target_groups, evaluate).close().graph()


def _approval(functions: WorkflowFunctions, run_table: TableTarget, halted: State) -> Chain:
    """RequestApproval (wait for the decision) -> RecordApproval. Refusals leave through ``_approval_refused``."""
    rejected, timed_out = _approval_refused(run_table)
    request = lambda_invoke_wait_for_token(
        "RequestApproval",
        functions.request_approval,
        payload={"runId.$": "$.runId", "wave.$": "$.wave", "settings.$": "$.settings"},
        timeout_seconds_path="$.wave.approval.timeoutSeconds",
        result_path="$.approval",
        # A retried invocation with the same token reuses the approval it opened (same id, same links).
        retry=(TRANSIENT_AWS_RETRY,),
        comment="Emails signed links to the wave's approvers; ApprovalDecision answers with the decision.",
        catch=(
            Catch((errors.ApprovalRejected.error_name(),), rejected, result_path="$.rejection"),
            Catch(("States.Timeout",), timed_out, result_path="$.timeout"),
            Catch(ON_ANY_ERROR, halted),
        ),
    )
    record = _record_wave(
        "RecordApproval",
        run_table,
        table.WAVE_APPROVED,
        {
            ":status": {"S": WaveApprovalStatus.APPROVED},
            ":by": {"S.$": "$.approval.decidedBy"},
            ":at": {"S.$": "$.approval.decidedAt"},
            ":ip": {"S.$": "$.approval.sourceIp"},
            ":agent": {"S.$": "$.approval.userAgent"},
        },
        comment="Who approved, when and from where, in the run record before any target is touched.",
        # An approval that cannot be recorded is not acted on.
        catch=(Catch(ON_ANY_ERROR, halted),),
    )
    # Only ApprovalDecision answers, but anyone holding the token and SendTaskSuccess could: an answer that is not
    # a recorded approval must halt the wave, not fail the run where no Catch reaches (a missing path in a task's
    # parameters is States.Runtime, which no Catch handles).
    fields = ("decidedBy", "decidedAt", "sourceIp", "userAgent")
    complete = Condition.all_of(
        *(Condition.compare(f"$.approval.{name}", "IsPresent", True) for name in (*fields, "decision"))
    )
    approved = Condition.all_of(
        Condition.compare("$.approval.decision", "StringEquals", Decision.APPROVED),
        *(Condition.compare(f"$.approval.{name}", "IsString", True) for name in fields),
    )
    unrecognised = Fail(
        "ApprovalUnrecognised",
        error=errors.ApprovalMalformed.error_name(),
        cause="The approval callback carried no recorded decision; the wave was not patched.",
    )
    return chain(
        request,
        branch("ApprovalComplete", [(Condition.negate(complete), unrecognised)]),
        branch("ApprovalGranted", [(Condition.negate(approved), unrecognised)]),
        record,
    )


def _approval_refused(run_table: TableTarget) -> tuple[Chain, Chain]:
    """Rejected or timed out: record it in the run (the wave HALTED, with the reason), then halt the run."""
    rejected = Fail("WaveRejected", error=errors.ApprovalRejected.error_name(), cause="An approver rejected the wave.")
    timed_out = Fail(
        "WaveNotApproved",
        error=errors.ApprovalTimedOut.error_name(),
        cause="Nobody decided before the wave's approval timed out.",
    )
    to_rejected = (Catch(ON_ANY_ERROR, rejected, result_path=None),)
    to_timed_out = (Catch(ON_ANY_ERROR, timed_out, result_path=None),)
    return (
        # The cause is "rejected by <who> at <when> from <ip>" (plain text: nothing to parse, so nothing that could
        # fail the run where no Catch reaches). Without one the wave still halts, unrecorded.
        branch(
            "RejectionExplained",
            [
                (
                    Condition.all_of(
                        Condition.compare("$.rejection.Cause", "IsPresent", True),
                        Condition.compare("$.rejection.Cause", "IsString", True),
                    ),
                    chain(
                        _record_wave(
                            "RecordApprovalRejected",
                            run_table,
                            table.WAVE_REJECTED,
                            {
                                ":halted": {"S": WaveStatus.HALTED},
                                ":reason": {"S.$": "States.Format('wave {} {}', $.wave.name, $.rejection.Cause)"},
                                ":status": {"S": WaveApprovalStatus.REJECTED},
                                ":detail": {"S.$": "$.rejection.Cause"},
                            },
                            catch=to_rejected,
                        ),
                        rejected,
                    ),
                )
            ],
            otherwise=rejected,
        ),
        chain(
            _record_wave(
                "RecordApprovalTimedOut",
                run_table,
                table.WAVE_APPROVAL_TIMED_OUT,
                {
                    ":halted": {"S": WaveStatus.HALTED},
                    ":reason": {
                        "S.$": "States.Format('wave {} was not approved within {} minutes', $.wave.name, "
                        "$.wave.approval.timeoutMinutes)"
                    },
                    ":status": {"S": WaveApprovalStatus.TIMED_OUT},
                    ":at": {"S.$": "$$.State.EnteredTime"},
                },
                catch=to_timed_out,
            ),
            timed_out,
        ),
    )


def _record_wave(
    name: str,
    run_table: TableTarget,
    update: table.Update,
    values: dict[str, Any],
    *,
    catch: tuple[Catch, ...],
    comment: str | None = None,
) -> Task:
    """Update the wave's run record directly from the state machine (the approval map exists: RequestApproval
    wrote it before sending a single link). The run document carries each wave's sort key (``table.wave_sk``)."""
    return dynamodb_update_item(
        name,
        run_table,
        key=_run_key("$.runId", {"S.$": "$.wave.recordKey"}),
        update=update,
        values=values,
        catch=catch,
        comment=comment,
    )


def _run_key(run_id_path: str, sort_key: dict[str, str]) -> dict[str, Any]:
    return {
        table.PARTITION_KEY: {"S.$": f"States.Format('{table.RUN_PK_FORMAT}', {run_id_path})"},
        table.SORT_KEY: sort_key,
    }


def _target_group(functions: WorkflowFunctions, state_machine_name: Sub) -> Graph:
    """One group of a wave: its accounts as child executions, each over its regions."""
    regions_incomplete = Pass(
        "RegionsIncomplete",
        parameters={"accountId.$": "$.accountId"},
        comment="EvaluateWave finds the missing target records and halts the run.",
        end=True,
    )
    regions = Map(
        "Regions",
        _target(functions),
        items_path="$.regions",
        item_selector=_carried(**{"accountId.$": "$.accountId", "region.$": "$$.Map.Item.Value"}),
        max_concurrency_path="$.settings.concurrency.regions",
        result_path=None,
        comment="Targets record their own failures; a failure here means a record could not be written.",
        catch=(Catch(ON_ANY_ERROR, regions_incomplete, result_path=None),),
    )
    account = chain(regions, Pass("AccountDone", parameters={"accountId.$": "$.accountId"}, end=True))
    accounts_incomplete = Pass(
        "AccountsIncomplete",
        comment="EvaluateWave finds the missing target records and halts the run.",
        end=True,
    )
    accounts = Map(
        "Accounts",
        account.graph(),
        items_path="$.group.accounts",
        item_selector=_carried(**{"accountId.$": "$$.Map.Item.Value", "regions.$": "$.group.regions"}),
        max_concurrency_path="$.settings.concurrency.accounts",
        mode="DISTRIBUTED",
        execution_type="STANDARD",
        tolerated_failure_percentage=100,
        label="Accounts",
        result_path=None,
        comment="Each account runs as a child execution; one account's failure never stops another's.",
        catch=(Catch(ON_ANY_ERROR, accounts_incomplete, result_path=None),),
        grants=distributed_map_grants(state_machine_name),
    )
    return chain(accounts).close().graph()


def _target(functions: WorkflowFunctions) -> Graph:
    """One account x region: discover, snapshot (optional), patch, poll until done, record."""
    unrecorded = Pass(
        "TargetUnrecorded",
        comment="Recording failed too; EvaluateWave sees the missing record and halts the run.",
        end=True,
    )
    record_failure = _invoke(
        "RecordTargetFailure",
        functions.record_target,
        payload=_target_payload(**{"error.$": "$.error"}),
        result_selector={"status.$": "$.Payload.status", "outcome.$": "$.Payload.outcome"},
        result_path="$.target",
        comment="Every instance of the target gets a final record, with the error as the reason.",
        catch=(Catch(ON_ANY_ERROR, unrecorded, result_path=None),),
    )
    to_failure = (Catch(ON_ANY_ERROR, chain(record_failure).close()),)
    discover = _invoke(
        "Discover",
        functions.discover,
        payload=_target_payload(**{"selector.$": "$.settings.selector", "rerunOf.$": "$.settings.rerunOf"}),
        result_selector={"targeted.$": "$.Payload.targeted", "unreachable.$": "$.Payload.unreachable"},
        result_path="$.discovery",
        catch=to_failure,
    )
    record = _invoke(
        "RecordTarget",
        functions.record_target,
        payload=_target_payload(),
        result_selector={"status.$": "$.Payload.status", "outcome.$": "$.Payload.outcome"},
        result_path="$.target",
        catch=to_failure,
    )
    store = _invoke(
        "StoreSnapshots",
        functions.store_snapshots,
        payload=_target_payload(**{"command.$": "$.command"}),
        result_path=None,
        catch=to_failure,
    )
    snapshots = _command_loop(SNAPSHOT, "Snapshot", functions, to_failure).then(store)
    patch = _command_loop(PATCH, "Patch", functions, to_failure)
    pre_collect = branch(
        "PreCollectEnabled",
        [(Condition.compare("$.settings.preCollect.enabled", "BooleanEquals", True), snapshots)],
    )
    reachable = branch(
        "AnyReachable",
        [(Condition.compare("$.discovery.targeted", "NumericGreaterThan", 0), pre_collect.then(patch))],
    )
    return chain(discover, reachable, record).close().graph()


def _command_loop(phase: str, label: str, functions: WorkflowFunctions, to_failure: tuple[Catch, ...]) -> Chain:
    """Send{label} -> WaitFor{label} -> Poll{label} -> {label}Done? (back to the wait until done).

    Bounded: PollCommand never asks to wait past the command's deadline, and raises CommandDeadlineExceeded
    (after cancelling the command) once the deadline has passed.
    """
    send = _invoke(
        f"Send{label}",
        functions.send_command,
        extra_retry=(LEDGER_BUSY_RETRY,),
        payload=_target_payload(**{"phase": phase, "settings.$": "$.settings", "wave.$": "$.wave"}),
        result_selector=_COMMAND_FIELDS,
        result_path="$.command",
        comment="At most one command per (run, wave, account, region, phase): the ledger makes retries reuse it.",
        catch=to_failure,
    )
    wait = Wait(f"WaitFor{label}", seconds_path="$.command.nextWaitSeconds")
    poll = _invoke(
        f"Poll{label}",
        functions.poll_command,
        payload=_target_payload(**{"command.$": "$.command", "settings.$": "$.settings"}),
        result_selector=_COMMAND_FIELDS,
        result_path="$.command",
        catch=to_failure,
    )
    not_done = Condition.compare("$.command.done", "BooleanEquals", False)
    return chain(send, wait, poll, branch(f"{label}Done", [(not_done, Goto(wait))]))


_COMMAND_FIELDS = {
    "commandId.$": "$.Payload.commandId",
    "phase.$": "$.Payload.phase",
    "deadline.$": "$.Payload.deadline",
    "nextWaitSeconds.$": "$.Payload.nextWaitSeconds",
    "done.$": "$.Payload.done",
}


def _carried(**extra: Any) -> dict[str, Any]:
    """What every iteration below a wave carries down: the run id, the run's settings, the slim wave."""
    return {"runId.$": "$.runId", "settings.$": "$.settings", "wave.$": "$.wave", **extra}


def _target_payload(**extra: Any) -> dict[str, Any]:
    return {
        "runId.$": "$.runId",
        "waveIndex.$": "$.wave.index",
        "accountId.$": "$.accountId",
        "region.$": "$.region",
        **extra,
    }


def _invoke(name: str, function: FunctionTarget, *, extra_retry: tuple[Retry, ...] = (), **options: Any) -> Task:
    return lambda_invoke(name, function, retry=(*extra_retry, TRANSIENT_AWS_RETRY), **options)
