"""One command on a target: send it, then wait and poll until it is done."""

from __future__ import annotations

from generator.asl.chain import Chain, branch, chain
from generator.asl.states import Catch, Condition, Goto, Retry, Wait
from generator.asl.tasks import FunctionTarget
from generator.asl.workflow.invoke import invoke, target_payload
from handlers.contract import errors

__all__ = ["LEDGER_BUSY_RETRY", "command_loop"]

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

_COMMAND_FIELDS = {
    "commandId.$": "$.Payload.commandId",
    "phase.$": "$.Payload.phase",
    "deadline.$": "$.Payload.deadline",
    "nextWaitSeconds.$": "$.Payload.nextWaitSeconds",
    "done.$": "$.Payload.done",
}


def command_loop(
    phase: str, label: str, *, send: FunctionTarget, poll: FunctionTarget, on_failure: tuple[Catch, ...]
) -> Chain:
    """Send{label} -> WaitFor{label} -> Poll{label} -> {label}Done? (back to the wait until done), open at the end.

    Bounded: PollCommand never asks to wait past the command's deadline, and raises CommandDeadlineExceeded
    (after cancelling the command) once the deadline has passed.
    """
    sent = invoke(
        f"Send{label}",
        send,
        extra_retry=(LEDGER_BUSY_RETRY,),
        payload=target_payload(phase=phase),
        result_selector=_COMMAND_FIELDS,
        result_path="$.command",
        comment="At most one command per (run, wave, account, region, phase): the ledger makes retries reuse it.",
        catch=on_failure,
    )
    wait = Wait(f"WaitFor{label}", seconds_path="$.command.nextWaitSeconds")
    polled = invoke(
        f"Poll{label}",
        poll,
        payload=target_payload(command={"commandId.$": "$.command.commandId", "phase.$": "$.command.phase"}),
        result_selector=_COMMAND_FIELDS,
        result_path="$.command",
        catch=on_failure,
    )
    not_done = Condition.compare("$.command.done", "BooleanEquals", False)
    return chain(sent, wait, polled, branch(f"{label}Done", [(not_done, Goto(wait))]))
