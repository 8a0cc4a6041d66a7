"""Approvals: the function that asks approvers, and the API (REST, regional) in front of the two that answer.

``GET /approvals/{id}`` -> ApprovalPage (read-only confirmation page); ``POST /approvals/{id}`` -> ApprovalDecision.
No authoriser: the signed link is the credential, and only the POST decides. The stage logs access without query
strings or bodies (they carry link signatures), throttles, never caches, and can sit behind a WAF web ACL. It is
not traced: API Gateway's X-Ray segment records the request URL with its query string, which would put usable
links in every sampled trace. The functions behind it are traced.

The approval functions' roles are named by the approval convention, which is what the approval signing key's
policy admits; only ApprovalDecision's role may answer the waiting workflow (``states:SendTask*``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from awacs import dynamodb, states
from awacs.aws import ForAnyValueStringLike
from troposphere import GetAtt, If, Ref, Sub, Template
from troposphere.apigateway import (
    AccessLogSetting,
    Account,
    Deployment,
    EndpointConfiguration,
    Integration,
    Method,
    MethodSetting,
    Resource,
    RestApi,
    Stage,
)
from troposphere.awslambda import Permission
from troposphere.dynamodb import ResourcePolicy
from troposphere.iam import Role
from troposphere.logs import LogGroup
from troposphere.wafv2 import WebACLAssociation

from generator import naming, suppressions
from generator.approval_policy import ApprovalPolicyRefs
from generator.approval_signing import DECISION, PAGE, REQUEST, ApprovalSigningRefs
from generator.iam import Grant, arn, deny_all_but, policy_document, service_trust
from generator.lambdas import FunctionSpec, LambdaRefs, Lambdas
from generator.messaging import MessagingRefs
from generator.parameters import HAS_APPROVAL_WEB_ACL, MANAGES_API_GATEWAY_LOGGING, HubParameters
from generator.retention import add_log_group, retained
from generator.storage import APPROVAL_ITEMS, RUN_ITEMS, RunTableRefs, StorageRefs
from handlers.contract import environment
from handlers.contract.table import APPROVAL_PAGE_ATTRIBUTES

STAGE = "v1"
# A person clicks a link or two; anything faster is a script. Per stage, across all callers.
THROTTLE_RATE_PER_SECOND = 5
THROTTLE_BURST = 10
# What the access log records: who asked what and how it went. No path values, query string or body.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "method": "$context.httpMethod",
    "resource": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "wafStatus": "$context.waf.status",
    "traceId": "$context.xrayTraceId",
}


REQUEST_APPROVAL = FunctionSpec(
    "RequestApproval", "request_approval", "Keeps a wave's task token and emails signed approval links.",
    timeout=60, memory=256, concurrency="approval", env=environment.RequestApprovalEnv,
)  # fmt: skip
APPROVAL_PAGE = FunctionSpec(
    "ApprovalPage", "approval_page", "Shows what an approval link will decide (GET; changes nothing).",
    timeout=10, memory=256, concurrency="approval", env=environment.ApprovalPageEnv,
)  # fmt: skip
APPROVAL_DECISION = FunctionSpec(
    "ApprovalDecision", "approval_decision", "Records an approval decision once and tells the workflow (POST).",
    timeout=15, memory=256, concurrency="approval", env=environment.ApprovalDecisionEnv,
)  # fmt: skip
# SendTaskSuccess/Failure have no resource-level permissions; the task token itself names the task.
ANSWER_WORKFLOW = Grant("AnswerWaitingWorkflow", (states.SendTaskFailure, states.SendTaskSuccess), ("*",))


@dataclass(frozen=True)
class ApprovalApiRefs:
    api: RestApi
    stage: Stage
    access_log: LogGroup
    request: LambdaRefs
    page: LambdaRefs
    decision: LambdaRefs

    @property
    def url(self) -> Sub:
        """The stage's base URL, which approval links start with."""
        return _url(self.api)


def _url(api: RestApi) -> Sub:
    return Sub("https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + STAGE, Api=Ref(api))


# Every way to write an item (PartiQL included), and to change who may.
ITEM_WRITES = tuple(
    dynamodb.Action(name)
    for name in (
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "PartiQLInsert",
        "PartiQLUpdate",
        "PartiQLDelete",
    )
)
POLICY_CHANGES = (dynamodb.Action("PutResourcePolicy"), dynamodb.Action("DeleteResourcePolicy"))


def _only_approval_functions_write_approvals(table: RunTableRefs, policy: ApprovalPolicyRefs) -> None:
    """The run table's resource policy: only RequestApproval and ApprovalDecision write approval items, and only
    the approval administrators change the policy.

    The workflow advances a gated wave on the decision recorded in the approval item, so whoever can write one
    can approve. Identity policies cannot prevent that (PowerUserAccess has ``dynamodb:*`` on every table); an
    explicit Deny in the table's own policy outweighs every Allow."""
    table_arn = arn("dynamodb", "table/${Table}", Table=table.table.TableName)
    writers = [naming.hub_approval_role_arn(purpose) for purpose in (REQUEST, DECISION)]
    table.table.ResourcePolicy = ResourcePolicy(
        # The property is typed as a dict; the awacs document serialises as it does in every other policy.
        PolicyDocument=policy_document(
            [
                deny_all_but(
                    "OnlyApprovalFunctionsWriteApprovals",
                    ITEM_WRITES,
                    [table_arn],
                    writers,
                    ForAnyValueStringLike("dynamodb:LeadingKeys", [APPROVAL_ITEMS]),
                ),
                deny_all_but(
                    "OnlyAdministratorsChangeThisPolicy", POLICY_CHANGES, [table_arn], Ref(policy.administrators)
                ),
            ]
        ).JSONrepr()
    )


def add_approval_api(
    template: Template,
    parameters: HubParameters,
    lambdas: Lambdas,
    *,
    storage: StorageRefs,
    messaging: MessagingRefs,
    signing: ApprovalSigningRefs,
    policy: ApprovalPolicyRefs,
) -> ApprovalApiRefs:
    """The three approval functions, the routes, deployment and stage, invoke permissions, optional WAF."""
    api = template.add_resource(
        RestApi(
            "ApprovalApi",
            Name=naming.prefixed("-approvals"),
            Description="Patch orchestrator approvals: confirmation pages (GET) and decisions (POST).",
            EndpointConfiguration=EndpointConfiguration(Types=["REGIONAL"]),
            DisableExecuteApiEndpoint=False,
        )
    )
    table = storage.run_table
    request = lambdas.add(
        REQUEST_APPROVAL,
        grants=(
            *table.grant("PutItem", "Query", "UpdateItem", partitions=(RUN_ITEMS, APPROVAL_ITEMS)),
            *messaging.grant_ask_approvers(),
            signing.sign_grant(),
        ),
        role_name=naming.hub_approval_role_name(REQUEST),
        settings={environment.APPROVAL_API_URL: _url(api)},
    )
    page = lambdas.add(
        APPROVAL_PAGE,
        # Never the task token: the page reads only what it shows.
        grants=(
            *table.grant("GetItem", partitions=(APPROVAL_ITEMS,), attributes=APPROVAL_PAGE_ATTRIBUTES),
            signing.verify_grant(),
        ),
        role_name=naming.hub_approval_role_name(PAGE),
    )
    decision = lambdas.add(
        APPROVAL_DECISION,
        grants=(
            *table.grant("GetItem", "UpdateItem", partitions=(APPROVAL_ITEMS,)),
            signing.verify_grant(),
            ANSWER_WORKFLOW,
        ),
        role_name=naming.hub_approval_role_name(DECISION),
    )
    _only_approval_functions_write_approvals(table, policy)
    approvals = template.add_resource(
        Resource("ApprovalsResource", RestApiId=Ref(api), ParentId=GetAtt(api, "RootResourceId"), PathPart="approvals")
    )
    approval = template.add_resource(
        Resource("ApprovalResource", RestApiId=Ref(api), ParentId=Ref(approvals), PathPart="{id}")
    )
    methods = [
        template.add_resource(_method("ApprovalPageMethod", api, approval, "GET", page)),
        template.add_resource(_method("ApprovalDecisionMethod", api, approval, "POST", decision)),
    ]
    # A REST API deployment is a snapshot: it must be replaced whenever a route changes, so its logical id
    # carries a digest of the routes (as CDK does). Same routes, same id: builds stay byte-identical.
    routes = json.dumps([m.to_dict() for m in (approvals, approval, *methods)], sort_keys=True)
    deployment = template.add_resource(
        Deployment(
            "ApprovalApiDeployment" + hashlib.sha256(routes.encode()).hexdigest()[:10],
            RestApiId=Ref(api),
            Description="Approval routes",
            DependsOn=[m.title for m in methods],
        )
    )
    access_log = add_log_group(
        template,
        "ApprovalApiAccessLogGroup",
        naming.prefixed("-approvals", before="/aws/apigateway/"),
        retention_days=Ref(parameters.log_retention_days),
        key_arn=lambdas.encryption.key_arn,
    )
    # Retained: the region-wide API Gateway setting keeps pointing at this role after the stack is gone.
    logging_role = template.add_resource(
        retained(
            Role(
                "ApiGatewayCloudWatchRole",
                Condition=MANAGES_API_GATEWAY_LOGGING,
                Description="Account-wide role API Gateway uses to write access logs.",
                AssumeRolePolicyDocument=service_trust("apigateway.amazonaws.com", confine=False),
                ManagedPolicyArns=[
                    arn(
                        "iam",
                        "policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
                        region=False,
                        account="aws",
                    )
                ],
            )
        )
    )
    account = template.add_resource(
        Account(
            "ApiGatewayAccountLogging",
            Condition=MANAGES_API_GATEWAY_LOGGING,
            CloudWatchRoleArn=GetAtt(logging_role, "Arn"),
        )
    )
    stage = template.add_resource(
        Stage(
            "ApprovalApiStage",
            RestApiId=Ref(api),
            StageName=STAGE,
            DeploymentId=Ref(deployment),
            Description="Approval links point here.",
            # Off on purpose (see the module docstring): a trace would hold the link's signature.
            TracingEnabled=False,
            CacheClusterEnabled=False,
            AccessLogSetting=AccessLogSetting(
                DestinationArn=GetAtt(access_log, "Arn"),
                Format=json.dumps(ACCESS_LOG_FORMAT, sort_keys=True, separators=(",", ":")),
            ),
            MethodSettings=[
                MethodSetting(
                    ResourcePath="/*",
                    HttpMethod="*",
                    ThrottlingRateLimit=THROTTLE_RATE_PER_SECOND,
                    ThrottlingBurstLimit=THROTTLE_BURST,
                    CachingEnabled=False,
                    MetricsEnabled=True,
                    # Execution logs and data traces would record query strings (link signatures): off.
                    DataTraceEnabled=False,
                    LoggingLevel="OFF",
                )
            ],
            Metadata={
                # The stage writes access logs only once the account has a logging role: wait for it when this
                # stack sets one (a Ref inside Fn::If makes the dependency only when the condition holds).
                "LoggingRole": If(MANAGES_API_GATEWAY_LOGGING, Ref(account), "existing"),
                "checkov": suppressions.checkov(
                    ("CKV_AWS_73", "X-Ray segments record the URL with its query string: the link's signature."),
                    ("CKV_AWS_120", "Caching is off on purpose: pages are per link and must never be served twice."),
                ),
            },
        )
    )
    for function, method in ((page, "GET"), (decision, "POST")):
        template.add_resource(
            Permission(
                f"{function.spec.name}InvokePermission",
                Action="lambda:InvokeFunction",
                FunctionName=function.arn,
                Principal="apigateway.amazonaws.com",
                SourceAccount=Ref("AWS::AccountId"),
                SourceArn=arn("execute-api", f"${{Api}}/{STAGE}/{method}/approvals/*", Api=Ref(api)),
            )
        )
    template.add_resource(
        WebACLAssociation(
            "ApprovalApiWebAclAssociation",
            Condition=HAS_APPROVAL_WEB_ACL,
            ResourceArn=arn(
                "apigateway", "/restapis/${Api}/stages/${Stage}", account=False, Api=Ref(api), Stage=Ref(stage)
            ),
            WebACLArn=Ref(parameters.approval_web_acl),
        )
    )
    return ApprovalApiRefs(api, stage, access_log, request, page, decision)


def _method(title: str, api: RestApi, resource: Resource, http_method: str, function: LambdaRefs) -> Method:
    return Method(
        title,
        Metadata={
            "checkov": suppressions.checkov(
                ("CKV_AWS_59", "The signed link is the credential; the functions verify it (KMS).")
            )
        },
        RestApiId=Ref(api),
        ResourceId=Ref(resource),
        HttpMethod=http_method,
        # The signed link is the credential; the functions verify it (only the POST can decide).
        AuthorizationType="NONE",
        RequestParameters={"method.request.path.id": True},
        Integration=Integration(
            Type="AWS_PROXY",
            IntegrationHttpMethod="POST",
            Uri=arn("apigateway", "path/2015-03-31/functions/${Arn}/invocations", account="lambda", Arn=function.arn),
        ),
    )
