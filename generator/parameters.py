"""The hub template's parameters (deploy-time settings; the parameter files under ``parameters/`` set them)."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Parameter, Template

from generator import naming

# The values CloudWatch Logs accepts for RetentionInDays.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


@dataclass(frozen=True)
class HubParameters:
    name_prefix: Parameter
    log_retention_days: Parameter
    state_machine_log_level: Parameter


def add_hub_parameters(template: Template) -> HubParameters:
    """Declare the hub parameters and group them for the console."""
    parameters = HubParameters(
        name_prefix=naming.add_name_prefix(template),
        log_retention_days=template.add_parameter(
            Parameter(
                "LogRetentionInDays",
                Type="Number",
                Default=90,
                AllowedValues=list(LOG_RETENTION_DAYS),
                Description="Retention of every hub log group.",
            )
        ),
        state_machine_log_level=template.add_parameter(
            Parameter(
                "StateMachineLogLevel",
                Type="String",
                Default="ERROR",
                AllowedValues=["ALL", "ERROR", "FATAL"],
                Description="Step Functions log level (execution data is never logged: it holds task tokens).",
            )
        ),
    )
    template.set_metadata(
        {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [
                    {"Label": {"default": "Naming"}, "Parameters": ["NamePrefix"]},
                    {
                        "Label": {"default": "Logging"},
                        "Parameters": ["LogRetentionInDays", "StateMachineLogLevel"],
                    },
                ],
                "ParameterLabels": {
                    "NamePrefix": {"default": "Name prefix (same in every spoke)"},
                    "LogRetentionInDays": {"default": "Log retention (days)"},
                    "StateMachineLogLevel": {"default": "State machine log level"},
                },
            }
        }
    )
    return parameters
