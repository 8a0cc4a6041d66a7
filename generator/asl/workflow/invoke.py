"""How the workflow invokes its handlers: the retries every invocation gets, and what a target's handlers read."""

from __future__ import annotations

from typing import Any

from generator.asl.states import CATCH_ALL, Retry, Task
from generator.asl.tasks import FunctionTarget, lambda_invoke
from handlers.contract import errors

__all__ = ["ON_ANY_ERROR", "TRANSIENT_AWS_RETRY", "invoke", "target_payload"]

ON_ANY_ERROR = (CATCH_ALL,)

# TransientAwsError: throttling that outlasted the SDK's own retries. Back off for minutes, not seconds.
TRANSIENT_AWS_RETRY = Retry(
    (errors.TransientAwsError.error_name(),),
    interval_seconds=5,
    max_attempts=6,
    backoff_rate=2.0,
    max_delay_seconds=120,
    jitter_strategy="FULL",
)


def invoke(name: str, function: FunctionTarget, *, extra_retry: tuple[Retry, ...] = (), **options: Any) -> Task:
    """Invoke a handler: ``extra_retry`` first, then the backoff for ``TransientAwsError``, then Lambda's own."""
    return lambda_invoke(name, function, retry=(*extra_retry, TRANSIENT_AWS_RETRY), **options)


def target_payload(**extra: Any) -> dict[str, Any]:
    """What a target's handlers are sent: the run and its execution, the wave, the account and the region, and
    ``extra``. Nothing else: what a command does comes from the run's stored plan (``handlers.domain.guard``)."""
    return {
        "runId.$": "$.runId",
        "executionId.$": "$.executionId",
        "waveIndex.$": "$.wave.index",
        "accountId.$": "$.accountId",
        "region.$": "$.region",
        **extra,
    }
