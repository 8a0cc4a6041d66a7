"""The approval API: API Gateway (REST, regional) in front of the two approval functions.

``GET /approvals/{id}`` -> ApprovalPage (read-only confirmation page); ``POST /approvals/{id}`` -> ApprovalDecision.
No authoriser: the signed link is the credential, and only the POST decides. The stage logs access without query
strings or bodies (they carry link signatures), throttles, never caches, and can sit behind a WAF web ACL. It is
not traced: API Gateway's X-Ray segment records the request URL with its query string, which would put usable
links in every sampled trace. The functions behind it are traced.

``add_approval_endpoint`` comes before the functions (RequestApproval needs the URL), ``add_approval_api`` after.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

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
from troposphere.awslambda import Function, Permission
from troposphere.iam import Role
from troposphere.logs import LogGroup
from troposphere.wafv2 import WebACLAssociation

from generator import naming, suppressions
from generator.encryption import EncryptionRefs
from generator.iam import service_trust
from generator.parameters import HAS_APPROVAL_WEB_ACL, MANAGES_API_GATEWAY_LOGGING, HubParameters
from generator.retention import retained

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


@dataclass(frozen=True)
class ApprovalEndpoint:
    api: RestApi

    @property
    def url(self) -> Sub:
        """The stage's base URL, which approval links start with."""
        return Sub("https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + STAGE, Api=Ref(self.api))


@dataclass(frozen=True)
class ApprovalApiRefs:
    endpoint: ApprovalEndpoint
    stage: Stage
    access_log: LogGroup


def add_approval_endpoint(template: Template) -> ApprovalEndpoint:
    """The REST API itself (its id makes the links' URL)."""
    api = template.add_resource(
        RestApi(
            "ApprovalApi",
            Name=naming.prefixed("-approvals"),
            Description="Patch orchestrator approvals: confirmation pages (GET) and decisions (POST).",
            EndpointConfiguration=EndpointConfiguration(Types=["REGIONAL"]),
            DisableExecuteApiEndpoint=False,
        )
    )
    return ApprovalEndpoint(api)


def add_approval_api(
    template: Template,
    parameters: HubParameters,
    encryption: EncryptionRefs,
    endpoint: ApprovalEndpoint,
    *,
    page: Function,
    decision: Function,
) -> ApprovalApiRefs:
    """Routes, deployment, stage (logs, tracing, throttling, no cache), invoke permissions, optional WAF."""
    api = endpoint.api
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
    access_log = template.add_resource(
        retained(
            LogGroup(
                "ApprovalApiAccessLogGroup",
                LogGroupName=naming.prefixed("-approvals", before="/aws/apigateway/"),
                RetentionInDays=Ref(parameters.log_retention_days),
                KmsKeyId=encryption.key_arn,
            )
        )
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
                    Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
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
                    ("CKV2_AWS_4", "Execution logging is off: it records query strings. Access logs are on."),
                    ("CKV2_AWS_29", "A WAF web ACL is associated when ApprovalApiWebAclArn is set."),
                ),
            },
        )
    )
    for function, method in ((page, "GET"), (decision, "POST")):
        template.add_resource(
            Permission(
                f"{function.title.removesuffix('Function')}InvokePermission",
                Action="lambda:InvokeFunction",
                FunctionName=GetAtt(function, "Arn"),
                Principal="apigateway.amazonaws.com",
                SourceAccount=Ref("AWS::AccountId"),
                SourceArn=Sub(
                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/"
                    + f"{STAGE}/{method}/approvals/*",
                    Api=Ref(api),
                ),
            )
        )
    template.add_resource(
        WebACLAssociation(
            "ApprovalApiWebAclAssociation",
            Condition=HAS_APPROVAL_WEB_ACL,
            ResourceArn=Sub(
                "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${Api}/stages/${Stage}",
                Api=Ref(api),
                Stage=Ref(stage),
            ),
            WebACLArn=Ref(parameters.approval_web_acl),
        )
    )
    return ApprovalApiRefs(endpoint, stage, access_log)


def _method(title: str, api: RestApi, resource: Resource, http_method: str, function: Function) -> Method:
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
            Uri=Sub(
                "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Arn}/invocations",
                Arn=GetAtt(function, "Arn"),
            ),
        ),
    )
