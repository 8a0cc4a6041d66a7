"""Scheduled starts: StartScheduledRun, which maintenance-window schedules invoke to start a run (see
``handlers/start_scheduled_run.py``), with the right to start executions of this state machine and nothing else.

The schedules themselves are per environment (``parameters/schedules-<env>.json``) and live in their own
generated template (``generator/schedules.py``), which names this function by the hub's output.
"""

from __future__ import annotations

from awacs import states
from troposphere import Output, Ref, Template

from generator.iam import Grant
from generator.lambdas import FunctionSpec, LambdaRefs, Lambdas
from generator.messaging import MessagingRefs
from generator.state_machine import StateMachineRefs
from handlers.contract import environment

START_SCHEDULED_RUN = FunctionSpec(
    "StartScheduledRun", "start_scheduled_run",
    "Starts the run a maintenance-window schedule planned (run id from the scheduled time), unless blacked out.",
    timeout=30, memory=256, concurrency="control", env=environment.StartScheduledRunEnv,
)  # fmt: skip
FUNCTION_OUTPUT = "ScheduledRunFunctionArn"


def add_scheduled_runs(
    template: Template, lambdas: Lambdas, *, messaging: MessagingRefs, state_machine: StateMachineRefs
) -> LambdaRefs:
    """The function and the output the schedules template reads."""
    machine = Ref(state_machine.state_machine)
    function = lambdas.add(
        START_SCHEDULED_RUN,
        grants=(Grant("StartPatchRuns", (states.StartExecution,), (machine,)), *messaging.grant_notify()),
        settings={environment.PATCH_RUN_STATE_MACHINE_ARN: machine},
    )
    template.add_output(
        Output(
            FUNCTION_OUTPUT,
            Description="The schedules template's StartScheduledRunFunctionArn parameter.",
            Value=function.arn,
        )
    )
    return function
