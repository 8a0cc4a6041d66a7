"""The hub template: one per organisation, in the operations account."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Template

from generator.approval_api import add_approval_api, add_approval_endpoint
from generator.approval_signing import add_approval_signing
from generator.asl.graph import StateMachineDefinition
from generator.asl.workflow import patch_run_workflow
from generator.encryption import add_encryption
from generator.functions import HubResources, add_functions
from generator.messaging import add_messaging
from generator.outputs import add_hub_outputs
from generator.parameters import add_hub_parameters
from generator.run_stops import add_stop_queue, add_stop_rule
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
    messaging = add_messaging(template, parameters, encryption)
    spoke_access = add_spoke_access(template, encryption)
    approval_signing = add_approval_signing(template)
    approval_endpoint = add_approval_endpoint(template)
    stop_queue = add_stop_queue(template)
    functions = add_functions(
        template,
        parameters,
        HubResources(storage, messaging, spoke_access, encryption, approval_signing, approval_endpoint.url, stop_queue),
    )
    approval_api = add_approval_api(
        template,
        parameters,
        encryption,
        approval_endpoint,
        page=functions.functions["ApprovalPage"],
        decision=functions.functions["ApprovalDecision"],
    )
    workflow = patch_run_workflow(
        functions.workflow(), run_table=storage.run_table_target(), state_machine_name=state_machine_name()
    )
    state_machine = add_state_machine(template, parameters, encryption, workflow)
    add_stop_rule(template, state_machine, stop_queue, cancel_run=functions.functions["CancelRun"])
    add_hub_outputs(
        template,
        storage=storage,
        messaging=messaging,
        spoke_access=spoke_access,
        state_machine=state_machine,
        approval_api=approval_api,
    )
    return Hub(template, workflow)
