"""The hub template: one per organisation, in the operations account."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Template

from generator.approval_api import add_approval_api
from generator.approval_policy import add_approval_policy
from generator.approval_signing import add_approval_signing
from generator.asl.graph import StateMachineDefinition
from generator.asl.workflow import patch_run_workflow
from generator.dashboard import add_dashboard
from generator.encryption import add_encryption
from generator.lambdas import Lambdas, merge_settings
from generator.messaging import add_messaging
from generator.monitoring import add_monitoring
from generator.outputs import add_hub_outputs
from generator.parameters import add_hub_parameters
from generator.run_functions import add_run_functions
from generator.run_stops import add_run_stops
from generator.scheduled_runs import add_scheduled_runs
from generator.spoke_access import add_spoke_access
from generator.state_machine import add_state_machine, state_machine_name
from generator.storage import add_storage

DESCRIPTION = (
    "EC2 Patching Orchestrator hub: the patch-run state machine, its functions, run table, artifact bucket, "
    "notifications, keys and approval API, in the operations account."
)


@dataclass(frozen=True)
class Hub:
    """The hub template and the workflow inside it (rendered separately as a diagram)."""

    template: Template
    workflow: StateMachineDefinition


def build_hub() -> Hub:
    """The complete hub template, one concern per call."""
    template = Template(Description=DESCRIPTION)
    template.set_version()
    parameters = add_hub_parameters(template)
    encryption = add_encryption(template, parameters)
    storage = add_storage(template, parameters, encryption)
    approval_policy = add_approval_policy(template)
    messaging = add_messaging(template, parameters, encryption, approval_policy)
    spoke_access = add_spoke_access(template, parameters, encryption)
    signing = add_approval_signing(template, parameters.key_administrator_arns())
    lambdas = Lambdas(
        template,
        parameters,
        encryption,
        merge_settings(
            parameters.settings(),
            storage.settings(),
            messaging.settings(),
            spoke_access.settings(),
            signing.settings(),
            approval_policy.settings(),
        ),
    )
    functions = add_run_functions(lambdas, storage, messaging, spoke_access)
    approval_api = add_approval_api(
        template, parameters, lambdas, storage=storage, messaging=messaging, signing=signing, policy=approval_policy
    )
    workflow = patch_run_workflow(
        functions.workflow(request_approval=approval_api.request.target()),
        run_table=storage.run_table.target(),
        state_machine_name=state_machine_name(),
    )
    state_machine = add_state_machine(template, parameters, encryption, workflow)
    run_stops = add_run_stops(
        template,
        lambdas,
        storage=storage,
        messaging=messaging,
        spoke_access=spoke_access,
        state_machine=state_machine,
    )
    scheduled = add_scheduled_runs(template, lambdas, messaging=messaging, state_machine=state_machine)
    every_function = (
        *functions.all(), approval_api.request, approval_api.page, approval_api.decision, run_stops.cancel_run,
        scheduled,
    )  # fmt: skip
    add_monitoring(
        template, encryption, functions=every_function, state_machine=state_machine, approval_api=approval_api,
        run_stops=run_stops,
    )  # fmt: skip
    add_dashboard(
        template, functions=every_function, state_machine=state_machine, approval_api=approval_api, run_stops=run_stops
    )
    add_hub_outputs(
        template,
        storage=storage,
        messaging=messaging,
        spoke_access=spoke_access,
        state_machine=state_machine,
        approval_api=approval_api,
    )
    return Hub(template, workflow)
