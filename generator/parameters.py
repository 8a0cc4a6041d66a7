"""The hub template's parameters (deploy-time settings; the parameter files under ``parameters/`` set them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from troposphere import Equals, If, Not, Parameter, Ref, Template

from generator import naming
from handlers.contract import environment
from handlers.contract.environment import Variable

# The values CloudWatch Logs accepts for RetentionInDays.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
HAS_NOTIFICATION_EMAIL = "HasNotificationEmail"
SHARES_INSTANCE_OUTPUT = "SharesInstanceOutput"
HAS_APPROVAL_WEB_ACL = "HasApprovalWebAcl"
MANAGES_API_GATEWAY_LOGGING = "ManagesApiGatewayLogging"
# The accounts AWS publishes the Powertools for AWS Lambda layers from: commercial Regions, China, GovCloud.
POWERTOOLS_PUBLISHERS = (
    ("aws", "[a-z]{2}-[a-z]+-[0-9]", "017000801446"),
    ("aws-cn", "cn-north-1", "498634801083"),
    ("aws-us-gov", "us-gov-east-1", "165087284144"),
    ("aws-us-gov", "us-gov-west-1", "165093116878"),
)
POWERTOOLS_LAYER = "AWSLambdaPowertoolsPythonV3-python313-arm64"
HAS_RESERVED_CONCURRENCY = "ReservesConcurrency"
HAS_CODE_SIGNING = "SignsCode"
HAS_CODE_OBJECT_VERSION = "PinsCodeObjectVersion"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$"
# Functions reserve concurrency by kind: fleet-facing ones scale with the fleet, control ones stay small.
Concurrency = Literal["fleet", "record", "control", "approval"]


@dataclass(frozen=True)
class HubParameters:
    name_prefix: Parameter
    code_bucket: Parameter
    code_key: Parameter
    code_object_version: Parameter
    code_signing_config: Parameter
    powertools_layer: Parameter
    log_retention_days: Parameter
    state_machine_log_level: Parameter
    record_retention_days: Parameter
    fleet_concurrency: Parameter
    record_concurrency: Parameter
    control_concurrency: Parameter
    approval_concurrency: Parameter
    account_concurrency: Parameter
    region_concurrency: Parameter
    notification_email: Parameter
    organization_id: Parameter
    target_accounts: Parameter
    share_instance_output: Parameter
    key_administrators: Parameter
    approval_web_acl: Parameter
    api_gateway_logging_role: Parameter
    reserve_concurrency: Parameter
    function_log_level: Parameter

    def reserved_concurrency(self, kind: Concurrency) -> If:
        """A function's reserved concurrency of ``kind``, or none when the stack reserves none."""
        parameter = {
            "fleet": self.fleet_concurrency,
            "record": self.record_concurrency,
            "control": self.control_concurrency,
            "approval": self.approval_concurrency,
        }[kind]
        return If(HAS_RESERVED_CONCURRENCY, Ref(parameter), Ref("AWS::NoValue"))

    def key_administrator_arns(self) -> Ref:
        """The roles that alone administer the hub's keys and read the spoke ExternalId."""
        return Ref(self.key_administrators)

    def settings(self) -> Mapping[Variable, Any]:
        """The functions' settings that come straight from these parameters."""
        return {
            environment.NAME_PREFIX: Ref(self.name_prefix),
            environment.AWS_PARTITION: Ref("AWS::Partition"),
            environment.RECORD_RETENTION_DAYS: Ref(self.record_retention_days),
            environment.ACCOUNT_CONCURRENCY: Ref(self.account_concurrency),
            environment.REGION_CONCURRENCY: Ref(self.region_concurrency),
            environment.TARGET_ACCOUNT_IDS: Ref(self.target_accounts),
            environment.INSTANCE_OUTPUT: If(SHARES_INSTANCE_OUTPUT, "true", "false"),
        }


def _number(name: str, default: int, low: int, high: int, description: str) -> Parameter:
    return Parameter(name, Type="Number", Default=default, MinValue=low, MaxValue=high, Description=description)


def add_hub_parameters(template: Template) -> HubParameters:
    """Declare the hub parameters, the conditions derived from them, and their console grouping."""
    add = template.add_parameter
    parameters = HubParameters(
        name_prefix=naming.add_name_prefix(template),
        code_bucket=add(
            Parameter(
                "CodeBucket",
                Type="String",
                AllowedPattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                Description="Bucket holding the handler package (python -m generator package prints the key).",
            )
        ),
        code_key=add(
            Parameter(
                "CodeKey",
                Type="String",
                AllowedPattern=r"^handlers/[0-9a-f]{64}\.zip$",
                ConstraintDescription="handlers/<sha256>.zip, as printed by python -m generator package",
                Description="Content-addressed key of the handler package: a code change changes only this value.",
            )
        ),
        code_object_version=add(
            Parameter(
                "CodeObjectVersion",
                Type="String",
                Default="",
                AllowedPattern=r"^$|^[\w.+=-]{1,1024}$",
                Description=(
                    "Optional S3 version id of the handler package: pins the exact object, so a later write under "
                    "the same key (by anyone who may write the code bucket) is never deployed."
                ),
            )
        ),
        code_signing_config=add(
            Parameter(
                "CodeSigningConfigArn",
                Type="String",
                Default="",
                AllowedPattern=r"^$|^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:code-signing-config:csc-[a-z0-9]{17}$",
                Description=(
                    "Optional Lambda code signing configuration applied to every function: with an Enforce policy, "
                    "Lambda refuses a package not signed by its signing profiles."
                ),
            )
        ),
        powertools_layer=add(
            Parameter(
                "PowertoolsLayerArn",
                Type="String",
                # Only AWS's own layer, for the functions' runtime and architecture: code from any other account
                # would run inside every function, with its role.
                AllowedPattern="^("
                + "|".join(
                    f"arn:{partition}:lambda:{region}:{account}:layer:{POWERTOOLS_LAYER}:[0-9]+"
                    for partition, region, account in POWERTOOLS_PUBLISHERS
                )
                + ")$",
                ConstraintDescription=f"AWS's own {POWERTOOLS_LAYER} layer (publisher account, this region)",
                Description="Powertools for AWS Lambda (Python) v3 layer version for python3.13 arm64 in this region.",
            )
        ),
        log_retention_days=add(
            Parameter(
                "LogRetentionInDays",
                Type="Number",
                Default=90,
                AllowedValues=list(LOG_RETENTION_DAYS),
                Description="Retention of every hub log group.",
            )
        ),
        state_machine_log_level=add(
            Parameter(
                "StateMachineLogLevel",
                Type="String",
                Default="ERROR",
                AllowedValues=["ALL", "ERROR"],
                Description="Step Functions log level (execution data is never logged: it holds task tokens).",
            )
        ),
        record_retention_days=add(
            _number("RecordRetentionDays", 400, 30, 3650, "Days run records stay in the run table (TTL).")
        ),
        fleet_concurrency=add(
            _number(
                "FleetFunctionConcurrency",
                20,
                1,
                1000,
                "Reserved concurrency of each function that calls spokes (Discover, SendCommand, PollCommand, "
                "StoreSnapshots).",
            )
        ),
        record_concurrency=add(
            _number("RecordFunctionConcurrency", 10, 1, 1000, "Reserved concurrency of RecordTarget.")
        ),
        control_concurrency=add(
            _number(
                "ControlFunctionConcurrency",
                2,
                1,
                100,
                "Reserved concurrency of ValidateRun, EvaluateWave, Finalize, CancelRun and StartScheduledRun.",
            )
        ),
        approval_concurrency=add(
            _number(
                "ApprovalFunctionConcurrency",
                5,
                1,
                100,
                "Reserved concurrency of each approval function (RequestApproval, ApprovalPage, ApprovalDecision); "
                "also caps what a flood of requests to the approval API can use.",
            )
        ),
        account_concurrency=add(
            _number(
                "DefaultAccountConcurrency",
                10,
                1,
                1000,
                "Accounts patched at once per target group, unless the run document says otherwise.",
            )
        ),
        region_concurrency=add(
            _number(
                "DefaultRegionConcurrency",
                5,
                1,
                40,
                "Regions patched at once per account, unless the run document says otherwise.",
            )
        ),
        notification_email=add(
            Parameter(
                "NotificationEmail",
                Type="String",
                Default="",
                AllowedPattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
                Description="Optional address subscribed to run notifications (confirm the subscription email).",
            )
        ),
        target_accounts=add(
            Parameter(
                "TargetAccountIds",
                Type="String",
                Default="",
                AllowedPattern=r"^$|^[0-9]{12}(,[0-9]{12})*$",
                ConstraintDescription="12-digit account ids separated by commas, no spaces",
                Description=(
                    "The only accounts a run may target (comma-separated); empty: any account of the organisation "
                    "(OrganizationId). ValidateRun refuses a run document naming any other."
                ),
            )
        ),
        organization_id=add(
            Parameter(
                "OrganizationId",
                Type="String",
                AllowedPattern=r"^o-[a-z0-9]{10,32}$",
                ConstraintDescription="an AWS Organizations id, o- and 10 to 32 lower-case letters or digits",
                Description=(
                    "The AWS Organizations id of the hub's organisation: the hub assumes spoke roles only in its "
                    "accounts (aws:ResourceOrgID), and only its accounts may write instance output."
                ),
            )
        ),
        share_instance_output=add(
            Parameter(
                "ShareInstanceOutput",
                Type="String",
                Default="false",
                AllowedValues=["true", "false"],
                Description=(
                    "true: patched instances in the organisation write Run Command output to the artifact bucket, "
                    "each account under its own prefix, encrypted with the hub key."
                ),
            )
        ),
        key_administrators=add(
            Parameter(
                "KeyAdministratorArns",
                Type="CommaDelimitedList",
                AllowedPattern=ROLE_ARN_PATTERN,
                ConstraintDescription="IAM role ARNs of this account, comma-separated",
                Description=(
                    "Roles (this account) that alone may change the hub keys' policies, grants, aliases, tags and "
                    "deletion, and read the spoke ExternalId. Include the role that deploys this stack (or "
                    "CloudFormation's service role): KMS refuses a key policy that would lock its caller out."
                ),
            )
        ),
        approval_web_acl=add(
            Parameter(
                "ApprovalApiWebAclArn",
                Type="String",
                Default="",
                AllowedPattern=r"^$|^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/[A-Za-z0-9_-]+/[a-f0-9-]+$",
                Description="Optional regional WAF web ACL to associate with the approval API stage.",
            )
        ),
        reserve_concurrency=add(
            Parameter(
                "ReserveConcurrency",
                Type="String",
                Default="true",
                AllowedValues=["true", "false"],
                Description=(
                    "Reserve concurrency per function (the sizes below). An account must keep 100 executions "
                    "unreserved, so this needs a Lambda quota of the sum plus 100; false for an account whose quota "
                    "is still low (new accounts): the functions then share the account's pool."
                ),
            )
        ),
        function_log_level=add(
            Parameter(
                "FunctionLogLevel",
                Type="String",
                Default="INFO",
                AllowedValues=["DEBUG", "INFO", "WARN", "ERROR"],
                Description="Application log level of every function (JSON logs; DEBUG while investigating).",
            )
        ),
        api_gateway_logging_role=add(
            Parameter(
                "ApiGatewayLoggingRole",
                Type="String",
                Default="create",
                AllowedValues=["create", "existing"],
                Description=(
                    "API Gateway needs an account-wide CloudWatch Logs role before a stage may write access logs. "
                    "create: this stack sets it (the setting is account-wide); existing: the account already has one."
                ),
            )
        ),
    )
    template.add_condition(HAS_NOTIFICATION_EMAIL, Not(Equals(parameters.notification_email.ref(), "")))
    template.add_condition(SHARES_INSTANCE_OUTPUT, Equals(parameters.share_instance_output.ref(), "true"))
    template.add_condition(HAS_CODE_SIGNING, Not(Equals(parameters.code_signing_config.ref(), "")))
    template.add_condition(HAS_CODE_OBJECT_VERSION, Not(Equals(parameters.code_object_version.ref(), "")))
    template.add_condition(HAS_APPROVAL_WEB_ACL, Not(Equals(parameters.approval_web_acl.ref(), "")))
    template.add_condition(MANAGES_API_GATEWAY_LOGGING, Equals(parameters.api_gateway_logging_role.ref(), "create"))
    template.add_condition(HAS_RESERVED_CONCURRENCY, Equals(parameters.reserve_concurrency.ref(), "true"))
    template.set_metadata({"AWS::CloudFormation::Interface": _interface()})
    return parameters


def _interface() -> dict[str, Any]:
    groups = {
        "Naming and code": [
            "NamePrefix",
            "CodeBucket",
            "CodeKey",
            "CodeObjectVersion",
            "CodeSigningConfigArn",
            "PowertoolsLayerArn",
        ],
        "Organisation and administration": ["OrganizationId", "TargetAccountIds", "KeyAdministratorArns"],
        "Scale": [
            "ReserveConcurrency",
            "DefaultAccountConcurrency",
            "DefaultRegionConcurrency",
            "FleetFunctionConcurrency",
            "RecordFunctionConcurrency",
            "ControlFunctionConcurrency",
            "ApprovalFunctionConcurrency",
        ],
        "Records and logs": ["RecordRetentionDays", "LogRetentionInDays", "StateMachineLogLevel", "FunctionLogLevel"],
        "Notifications and output": ["NotificationEmail", "ShareInstanceOutput"],
        "Approval policy": [
            "ApprovalRequiredWaves",
            "Approvers",
            "MinimumApprovers",
            "MaximumApprovalMinutes",
            "ApprovalAdministratorArns",
        ],
        "Approval API": ["ApprovalApiWebAclArn", "ApiGatewayLoggingRole"],
        "Alarms": ["AlarmEmail", "PageHttpsEndpoint"],  # declared by generator/monitoring.py
    }
    labels = {
        "NamePrefix": "Name prefix (same in every spoke)",
        "CodeBucket": "Handler package bucket",
        "CodeKey": "Handler package key",
        "PowertoolsLayerArn": "Powertools layer ARN",
        "ReserveConcurrency": "Reserve concurrency per function",
        "FunctionLogLevel": "Function log level",
        "DefaultAccountConcurrency": "Accounts at once (default)",
        "DefaultRegionConcurrency": "Regions at once per account (default)",
        "FleetFunctionConcurrency": "Reserved concurrency: fleet functions",
        "RecordFunctionConcurrency": "Reserved concurrency: RecordTarget",
        "ControlFunctionConcurrency": "Reserved concurrency: control functions",
        "ApprovalFunctionConcurrency": "Reserved concurrency: approval functions",
        "ApprovalRequiredWaves": "Waves that wait for approval",
        "Approvers": "Who may approve (email addresses)",
        "MinimumApprovers": "Distinct approvers needed per wave",
        "MaximumApprovalMinutes": "Longest approval wait (link lifetime)",
        "ApprovalAdministratorArns": "Approval administrators (role ARNs)",
        "ApprovalApiWebAclArn": "WAF web ACL for the approval API (optional)",
        "ApiGatewayLoggingRole": "API Gateway CloudWatch Logs role",
        "AlarmEmail": "Incident channel address for every alarm (optional)",
        "PageHttpsEndpoint": "Pager HTTPS endpoint for alarms that page (optional)",
        "RecordRetentionDays": "Run record retention (days)",
        "LogRetentionInDays": "Log retention (days)",
        "StateMachineLogLevel": "State machine log level",
        "NotificationEmail": "Notification email (optional)",
        "ShareInstanceOutput": "Instances write Run Command output",
        "OrganizationId": "Organisation id",
        "TargetAccountIds": "Accounts runs may target (empty: the organisation's)",
        "KeyAdministratorArns": "Key administrator roles (include the deploying role)",
        "CodeObjectVersion": "Handler package S3 version (optional)",
        "CodeSigningConfigArn": "Lambda code signing configuration (optional)",
    }
    return {
        "ParameterGroups": [{"Label": {"default": label}, "Parameters": names} for label, names in groups.items()],
        "ParameterLabels": {name: {"default": label} for name, label in labels.items()},
    }
