"""Break-glass access in a spoke: an optional role a person assumes to list and cancel Run Command commands.

The spoke role trusts only the hub's fleet roles (with the ExternalId), so an operator cannot use it when the hub
cannot (CancelRun failed, the run-stop dead-letter queue holds messages). With ``OperatorRoleArn`` set, this
stack adds ``<NamePrefix>-spoke-operator-<region>``, trusted only by that role (say, the incident responders'
SSO role in the hub account), which may only list commands, their invocations, and cancel commands, in this
region. IAM has no resource-level permissions or condition keys for these three actions that could single out
the orchestrator's own commands: the role is limited to the actions and the region, and its use is in CloudTrail.
"""

from __future__ import annotations

from awacs import ssm, sts
from awacs.aws import Allow, Condition, Principal, Statement, StringEquals
from troposphere import Equals, GetAtt, Not, Output, Parameter, Ref, Sub, Template
from troposphere.iam import Policy, Role

from generator.iam import policy_document

HAS_OPERATOR_ROLE = "HasOperatorRole"
OPERATOR_ROLE_PARAMETER = "OperatorRoleArn"
ROLE_NAME = "${NamePrefix}-spoke-operator-${AWS::Region}"
SESSION_SECONDS = 3600


def add_spoke_operator(template: Template) -> Role:
    """The parameter, the conditional role and its output (and the parameter's place in the console form)."""
    trusted = template.add_parameter(
        Parameter(
            OPERATOR_ROLE_PARAMETER,
            Type="String",
            Default="",
            AllowedPattern=r"^$|^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$",
            ConstraintDescription="empty, or the ARN of an IAM role",
            Description=(
                "Optional: the role (e.g. the incident responders' SSO role) that may assume a break-glass role here "
                "to list and cancel Run Command commands. Empty: no such role."
            ),
        )
    )
    template.add_condition(HAS_OPERATOR_ROLE, Not(Equals(Ref(trusted), "")))
    this_region = Condition(StringEquals("aws:RequestedRegion", Ref("AWS::Region")))
    role = template.add_resource(
        Role(
            "SpokeOperatorRole",
            Condition=HAS_OPERATOR_ROLE,
            RoleName=Sub(ROLE_NAME),
            Description="Break-glass: list and cancel Run Command commands in this region (docs/runbook.md).",
            MaxSessionDuration=SESSION_SECONDS,
            AssumeRolePolicyDocument=policy_document(
                [
                    Statement(
                        Sid="NamedOperatorRoleOnly",
                        Effect=Allow,
                        Principal=Principal("AWS", Ref(trusted)),
                        Action=[sts.AssumeRole],
                    )
                ]
            ),
            Policies=[
                Policy(
                    PolicyName="list-and-cancel-commands",
                    PolicyDocument=policy_document(
                        [
                            # No resource-level permissions exist for these actions: "*" within this region.
                            Statement(
                                Sid="ListCommands",
                                Effect=Allow,
                                Action=[ssm.ListCommands, ssm.ListCommandInvocations],
                                Resource=["*"],
                                Condition=this_region,
                            ),
                            Statement(
                                Sid="CancelCommands",
                                Effect=Allow,
                                Action=[ssm.CancelCommand],
                                Resource=["*"],
                                Condition=this_region,
                            ),
                        ]
                    ),
                )
            ],
        )
    )
    template.add_output(
        Output(
            "SpokeOperatorRoleArn",
            Condition=HAS_OPERATOR_ROLE,
            Description="Break-glass role: aws sts assume-role --role-arn <this> (docs/runbook.md, Abort and cancel).",
            Value=GetAtt(role, "Arn"),
        )
    )
    # The console form groups every parameter; this one belongs to this concern.
    interface = template.metadata["AWS::CloudFormation::Interface"]
    interface["ParameterGroups"].append(
        {"Label": {"default": "Break-glass operator (optional)"}, "Parameters": [OPERATOR_ROLE_PARAMETER]}
    )
    interface["ParameterLabels"][OPERATOR_ROLE_PARAMETER] = {"default": "Role that may list and cancel commands"}
    return role
