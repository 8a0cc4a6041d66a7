"""The hub template: one per organisation, in the operations account."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Template

from generator.asl.graph import StateMachineDefinition
from generator.asl.workflow import patch_run_workflow
from generator.encryption import add_encryption
from generator.parameters import add_hub_parameters
from generator.state_machine import add_state_machine
from generator.storage import add_storage

DESCRIPTION = (
    "EC2 Patching Orchestrator hub: the patch-run state machine, its run table and key, in the operations account."
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
    encryption = add_encryption(template)
    storage = add_storage(template, encryption)
    workflow = patch_run_workflow(run_table=storage.run_table_target())
    add_state_machine(template, parameters, encryption, workflow)
    return Hub(template, workflow)
