"""The Lambda functions the patch-run workflow invokes, as ``generator.functions`` hands them over."""

from __future__ import annotations

from dataclasses import dataclass

from generator.asl.tasks import FunctionTarget

__all__ = ["WorkflowFunctions"]


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
