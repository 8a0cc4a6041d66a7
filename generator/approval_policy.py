"""The approval policy: the deployer's, set by stack parameters, never by a run document.

Which waves need approval, who may approve (the allowlist), how many distinct approvers must agree, how long
approval links live at most, and who may administer the approvals topic (subscribe approvers, change its
policy). ValidateRun applies the policy to every run document (handlers.contract.run_document.ApprovalPolicy);
RequestApproval checks the allowlist and the minimum again; the approvals topic refuses every other subscriber.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from awacs import sns
from awacs.aws import ArnNotEquals, Condition, Deny, Principal, Statement
from troposphere import Parameter, Ref, Template

from generator.parameters import ROLE_ARN_PATTERN
from handlers.contract import environment, run_document
from handlers.contract.environment import Variable
from handlers.contract.run_document import APPROVAL_AFTER_FIRST, APPROVAL_REQUIRED_WAVES

EMAIL = r"[^@\s,]+@[^@\s,]+\.[^@\s,]+"
# What only the approvals topic's administrators may do: whoever subscribes receives approval links.
TOPIC_ADMINISTRATION = (sns.Subscribe, sns.SetTopicAttributes, sns.AddPermission, sns.RemovePermission, sns.DeleteTopic)


@dataclass(frozen=True)
class ApprovalPolicyRefs:
    required_waves: Parameter
    approvers: Parameter
    minimum_approvers: Parameter
    maximum_minutes: Parameter
    administrators: Parameter

    def settings(self) -> Mapping[Variable, Any]:
        return {
            environment.APPROVAL_REQUIRED_WAVES: Ref(self.required_waves),
            environment.APPROVERS: Ref(self.approvers),
            environment.MINIMUM_APPROVERS: Ref(self.minimum_approvers),
            environment.MAXIMUM_APPROVAL_MINUTES: Ref(self.maximum_minutes),
        }

    def administered_topic(self, topic: Any) -> Statement:
        """The approvals topic's policy statement: only the administrators subscribe or change the topic."""
        return Statement(
            Sid="OnlyAdministratorsSubscribeOrChangeTheTopic",
            Effect=Deny,
            Principal=Principal("*"),
            Action=list(TOPIC_ADMINISTRATION),
            Resource=[topic],
            Condition=Condition(ArnNotEquals("aws:PrincipalArn", Ref(self.administrators))),
        )


def add_approval_policy(template: Template) -> ApprovalPolicyRefs:
    """The policy's parameters."""
    add = template.add_parameter
    return ApprovalPolicyRefs(
        required_waves=add(
            Parameter(
                "ApprovalRequiredWaves",
                Type="String",
                Default=APPROVAL_AFTER_FIRST,
                AllowedValues=list(APPROVAL_REQUIRED_WAVES),
                Description=(
                    f"Which waves wait for approval: {run_document.APPROVAL_AFTER_FIRST} (the canary runs "
                    f"unattended), {run_document.APPROVAL_ALL}, or {run_document.APPROVAL_AS_ASKED} (only where the "
                    "run document asks). A run document may ask for more, never for less."
                ),
            )
        ),
        approvers=add(
            Parameter(
                "Approvers",
                Type="String",
                Default="",
                AllowedPattern=f"^$|^{EMAIL}(,{EMAIL})*$",
                ConstraintDescription="email addresses separated by commas, no spaces",
                Description=(
                    "Who may approve (comma-separated addresses): a run document may name only these. Each needs an "
                    'email subscription to the approvals topic filtered to itself ({"approver": ["<address>"]}).'
                ),
            )
        ),
        minimum_approvers=add(
            Parameter(
                "MinimumApprovers",
                Type="Number",
                Default=1,
                MinValue=1,
                MaxValue=5,
                Description="How many distinct approvers must approve a wave (one rejection is enough to halt it).",
            )
        ),
        maximum_minutes=add(
            Parameter(
                "MaximumApprovalMinutes",
                Type="Number",
                Default=run_document.DEFAULT_MAXIMUM_APPROVAL_MINUTES,
                MinValue=5,
                MaxValue=10080,
                Description=(
                    "How long a wave waits for approval at most, and so how long its links (bearer credentials) live."
                ),
            )
        ),
        administrators=add(
            Parameter(
                "ApprovalAdministratorArns",
                Type="CommaDelimitedList",
                AllowedPattern=ROLE_ARN_PATTERN,
                ConstraintDescription="IAM role ARNs separated by commas",
                Description=(
                    "Roles that may subscribe approvers to the approvals topic or change it, and change the run "
                    "table's resource policy (everyone else is denied by those policies). Include the role that "
                    "deploys this stack: it writes both."
                ),
            )
        ),
    )
