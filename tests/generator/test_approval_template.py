"""The approval side of the hub template: who may sign, verify and decide, and how the API stage is set."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from generator.approval_api import STAGE
from handlers.domain import approvals
from rehearsal.template import generated_template
from tests.support.policies import ACCOUNT, REGION, as_list, concrete, identity_statements

TABLE_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return generated_template("hub.json")


def resources(hub: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in hub["Resources"].items() if r["Type"] == kind}


def actions_by_role(hub: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for role, statement in identity_statements(hub):
        found.setdefault(role, set()).update(as_list(statement["Action"]))
    return found


def test_only_the_decision_role_may_answer_a_waiting_workflow(hub: dict[str, Any]) -> None:
    answering = {
        role for role, actions in actions_by_role(hub).items() if any(a.startswith("states:SendTask") for a in actions)
    }
    assert answering == {"ApprovalDecisionFunctionRole"}
    assert {"states:SendTaskSuccess", "states:SendTaskFailure"} <= actions_by_role(hub)["ApprovalDecisionFunctionRole"]


def test_the_page_role_reads_and_verifies_and_nothing_else(hub: dict[str, Any]) -> None:
    page = actions_by_role(hub)["ApprovalPageFunctionRole"]

    assert not {a for a in page if a.startswith(("states:", "sns:", "s3:", "sts:"))}
    assert not page & TABLE_WRITES
    assert {"dynamodb:GetItem", "kms:VerifyMac"} <= page
    assert "kms:GenerateMac" not in page


def test_only_request_approval_signs_and_only_the_approval_api_verifies(hub: dict[str, Any]) -> None:
    roles = actions_by_role(hub)
    assert {role for role, actions in roles.items() if "kms:GenerateMac" in actions} == {"RequestApprovalFunctionRole"}
    assert {role for role, actions in roles.items() if "kms:VerifyMac" in actions} == {
        "ApprovalPageFunctionRole",
        "ApprovalDecisionFunctionRole",
    }


def test_the_signing_key_is_an_hmac_key_whose_policy_names_the_approval_roles(hub: dict[str, Any]) -> None:
    key = hub["Resources"]["ApprovalSigningKey"]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    statements = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    names = {
        purpose: hub["Resources"][role]["Properties"]["RoleName"]["Fn::Sub"]
        for purpose, role in (
            ("request", "RequestApprovalFunctionRole"),
            ("page", "ApprovalPageFunctionRole"),
            ("decision", "ApprovalDecisionFunctionRole"),
        )
    }

    def excepted(sid: str) -> list[str]:
        statement = statements[sid]
        assert (statement["Effect"], statement["Principal"]) == ("Deny", {"AWS": "*"})
        return [arn["Fn::Sub"] for arn in statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]]

    assert statements["OnlyRequestApprovalSignsLinks"]["Action"] == ["kms:GenerateMac"]
    assert excepted("OnlyRequestApprovalSignsLinks") == [
        f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{names['request']}"
    ]
    assert statements["OnlyTheApprovalApiVerifiesLinks"]["Action"] == ["kms:VerifyMac"]
    assert excepted("OnlyTheApprovalApiVerifiesLinks") == [
        f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{names['page']}",
        f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{names['decision']}",
    ]


def test_get_serves_the_page_and_post_the_decision_and_nothing_else_is_routed(hub: dict[str, Any]) -> None:
    methods = resources(hub, "AWS::ApiGateway::Method")
    routed = {
        m["Properties"]["HttpMethod"]: m["Properties"]["Integration"]["Uri"]["Fn::Sub"][1]["Arn"]["Fn::GetAtt"][0]
        for m in methods.values()
    }
    assert routed == {"GET": "ApprovalPageFunction", "POST": "ApprovalDecisionFunction"}
    for method in methods.values():
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"
        assert method["Properties"]["ResourceId"] == {"Ref": "ApprovalResource"}
    assert hub["Resources"]["ApprovalResource"]["Properties"]["PathPart"] == "{id}"
    assert hub["Resources"]["ApprovalsResource"]["Properties"]["PathPart"] == "approvals"


def test_each_function_may_be_invoked_only_by_its_own_method_and_route(hub: dict[str, Any]) -> None:
    permissions = {
        p["Properties"]["FunctionName"]["Fn::GetAtt"][0]: p["Properties"]
        for p in resources(hub, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    for function, method in (("ApprovalPageFunction", "GET"), ("ApprovalDecisionFunction", "POST")):
        permission = permissions[function]
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert permission["SourceArn"]["Fn::Sub"][0].endswith(f"${{Api}}/{STAGE}/{method}/approvals/*")
        assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert set(permissions) == {"ApprovalPageFunction", "ApprovalDecisionFunction"}


def test_the_stage_logs_access_without_query_strings_throttles_and_never_caches(hub: dict[str, Any]) -> None:
    stage = hub["Resources"]["ApprovalApiStage"]["Properties"]
    # X-Ray's API Gateway segment records the URL with its query string: a usable link in every sampled trace.
    assert stage["TracingEnabled"] is False
    assert stage["CacheClusterEnabled"] is False
    (settings,) = stage["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["CachingEnabled"] is False
    assert settings["DataTraceEnabled"] is False
    assert settings["LoggingLevel"] == "OFF"
    assert settings["ThrottlingRateLimit"] > 0
    assert settings["ThrottlingBurstLimit"] > 0
    access_format = json.loads(stage["AccessLogSetting"]["Format"])
    assert {"$context.identity.sourceIp", "$context.status", "$context.requestId"} <= set(access_format.values())
    for secret_bearing in ("$context.path", "$input", "$context.requestOverride", "querystring", "$method.request"):
        assert not any(secret_bearing in value for value in access_format.values()), secret_bearing
    log_group = hub["Resources"]["ApprovalApiAccessLogGroup"]["Properties"]
    assert stage["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApprovalApiAccessLogGroup", "Arn"]}
    assert "KmsKeyId" in log_group


def test_a_waf_web_acl_is_associated_only_when_given(hub: dict[str, Any]) -> None:
    association = hub["Resources"]["ApprovalApiWebAclAssociation"]
    assert association["Condition"] == "HasApprovalWebAcl"
    assert association["Properties"]["WebACLArn"] == {"Ref": "ApprovalApiWebAclArn"}
    assert hub["Parameters"]["ApprovalApiWebAclArn"]["Default"] == ""
    assert hub["Conditions"]["HasApprovalWebAcl"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApprovalApiWebAclArn"}, ""]}]
    }


def test_the_api_gateway_logging_role_is_set_only_when_asked(hub: dict[str, Any]) -> None:
    for name in ("ApiGatewayCloudWatchRole", "ApiGatewayAccountLogging"):
        assert hub["Resources"][name]["Condition"] == "ManagesApiGatewayLogging"
    # The stage waits for the account setting when this stack makes it.
    metadata = hub["Resources"]["ApprovalApiStage"]["Metadata"]["LoggingRole"]
    assert metadata == {"Fn::If": ["ManagesApiGatewayLogging", {"Ref": "ApiGatewayAccountLogging"}, "existing"]}


def test_approval_requests_go_to_an_encrypted_topic_that_refuses_plain_http(hub: dict[str, Any]) -> None:
    topic = hub["Resources"]["ApprovalRequestsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["HubKey", "Arn"]}
    statements = hub["Resources"]["ApprovalRequestsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    plain_http = next(statement for statement in statements if statement["Sid"] == "DenyPublishWithoutTls")
    assert plain_http["Effect"] == "Deny"
    assert plain_http["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    request = hub["Resources"]["RequestApprovalFunction"]["Properties"]["Environment"]["Variables"]
    assert request["APPROVAL_TOPIC_ARN"] == {"Ref": "ApprovalRequestsTopic"}
    assert request["APPROVAL_API_URL"]["Fn::Sub"][0].endswith(f"/{STAGE}")


def test_only_the_approval_functions_reach_approval_items_and_the_page_never_reads_the_token(
    hub: dict[str, Any],
) -> None:
    reach: dict[str, list[str]] = {}
    for role, statement in identity_statements(hub):
        if any(action.startswith("dynamodb:") for action in as_list(statement["Action"])):
            reach[role] = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert {role for role, partitions in reach.items() if "APPROVAL#*" in partitions} == {
        "RequestApprovalFunctionRole",
        "ApprovalPageFunctionRole",
        "ApprovalDecisionFunctionRole",
    }
    assert all(partitions == ["RUN#*"] for role, partitions in reach.items() if "Approval" not in role), reach
    page = next(s for r, s in identity_statements(hub) if r == "ApprovalPageFunctionRole" and s["Sid"] == "UseRunTable")
    readable = page["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert "taskToken" not in readable
    assert "tokenDigest" not in readable


def test_a_decision_is_sent_again_only_after_the_attempt_that_recorded_it_has_ended(hub: dict[str, Any]) -> None:
    timeout = hub["Resources"]["ApprovalDecisionFunction"]["Properties"]["Timeout"]
    assert timeout < approvals.REDELIVERY_AFTER_SECONDS


def test_only_the_approval_administrators_may_subscribe_to_the_approvals_topic_or_change_it(
    hub: dict[str, Any],
) -> None:
    """A subscriber receives approval links: an operator with sns:Subscribe (PowerUserAccess) must not be one."""
    statements = hub["Resources"]["ApprovalRequestsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (administration,) = [statement for statement in statements if "sns:Subscribe" in as_list(statement["Action"])]
    assert administration["Effect"] == "Deny"
    assert administration["Principal"] == "*"
    assert set(as_list(administration["Action"])) >= {
        "sns:Subscribe",
        "sns:SetTopicAttributes",
        "sns:AddPermission",
        "sns:RemovePermission",
    }
    assert administration["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Ref": "ApprovalAdministratorArns"}}}
    assert hub["Parameters"]["ApprovalAdministratorArns"]["Type"] == "CommaDelimitedList"
    assert "Default" not in hub["Parameters"]["ApprovalAdministratorArns"], "administrators are the deployer's choice"
    # The run-notifications topic has no approval links and no such restriction.
    notifications = hub["Resources"]["RunNotificationsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert all("sns:Subscribe" not in as_list(statement["Action"]) for statement in notifications)


def test_the_approval_policy_is_stack_parameters_that_every_function_deciding_on_approvals_reads(
    hub: dict[str, Any],
) -> None:
    parameters = hub["Parameters"]
    assert parameters["ApprovalRequiredWaves"]["Default"] == "after-first"
    assert parameters["ApprovalRequiredWaves"]["AllowedValues"] == ["after-first", "all", "run-document"]
    assert (parameters["MinimumApprovers"]["MinValue"], parameters["MaximumApprovalMinutes"]["MaxValue"]) == (1, 10080)
    validate = hub["Resources"]["ValidateRunFunction"]["Properties"]["Environment"]["Variables"]
    request = hub["Resources"]["RequestApprovalFunction"]["Properties"]["Environment"]["Variables"]
    assert {name: validate[name] for name in ("APPROVAL_REQUIRED_WAVES", "APPROVERS", "MINIMUM_APPROVERS")} == {
        "APPROVAL_REQUIRED_WAVES": {"Ref": "ApprovalRequiredWaves"},
        "APPROVERS": {"Ref": "Approvers"},
        "MINIMUM_APPROVERS": {"Ref": "MinimumApprovers"},
    }
    assert validate["MAXIMUM_APPROVAL_MINUTES"] == {"Ref": "MaximumApprovalMinutes"}
    assert (request["APPROVERS"], request["MINIMUM_APPROVERS"]) == ({"Ref": "Approvers"}, {"Ref": "MinimumApprovers"})


def table_policy_denies(hub: dict[str, Any], principal: str, action: str, partition: str) -> bool:
    """Whether the run table's own policy denies ``principal`` ``action`` on an item of ``partition`` (its
    statements are Deny only: the Allow comes from the caller's identity policy)."""
    document = concrete(
        hub["Resources"]["PatchRunsTable"]["Properties"]["ResourcePolicy"]["PolicyDocument"],
        hub,
        {
            "ApprovalAdministratorArns": ADMINISTRATOR,
        },
    )
    for statement in document["Statement"]:
        assert (statement["Effect"], statement["Principal"]) == ("Deny", {"AWS": "*"})
        conditions = statement["Condition"]
        excepted = as_list(conditions["ArnNotEquals"]["aws:PrincipalArn"])
        excepted = [arn for item in excepted for arn in item.split(",")]  # a CommaDelimitedList's Ref
        leading = conditions.get("ForAnyValue:StringLike", {}).get("dynamodb:LeadingKeys", ["*"])
        if (
            action in statement["Action"]
            and principal not in excepted
            and any(fnmatch.fnmatchcase(partition, pattern) for pattern in leading)
        ):
            return True
    return False


ADMINISTRATOR = f"arn:aws:iam::{ACCOUNT}:role/approval-administrator"
POWER_USER = f"arn:aws:iam::{ACCOUNT}:role/PowerUser"


def test_only_the_approval_functions_may_write_approval_items_whatever_an_identity_policy_allows(
    hub: dict[str, Any],
) -> None:
    """The workflow advances on the recorded decision: writing one directly (PowerUserAccess has dynamodb:*) must
    be impossible, so the table's own policy denies it to every other principal."""
    request, decision = (
        f"arn:aws:iam::{ACCOUNT}:role/patch-orchestrator-approval-{purpose}-{REGION}"
        for purpose in ("request", "decision")
    )
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLUpdate"):
        assert table_policy_denies(hub, POWER_USER, action, "APPROVAL#x"), action
        assert table_policy_denies(hub, ADMINISTRATOR, action, "APPROVAL#x"), action
        assert not table_policy_denies(hub, request, action, "APPROVAL#x"), action
        assert not table_policy_denies(hub, decision, action, "APPROVAL#x"), action
    # Run items are the functions' and the workflow's (their identity policies say which).
    assert not table_policy_denies(hub, POWER_USER, "dynamodb:PutItem", "RUN#x")
    # Nor can the policy itself be removed but by an administrator.
    assert table_policy_denies(hub, POWER_USER, "dynamodb:DeleteResourcePolicy", "RUN#x")
    assert not table_policy_denies(hub, ADMINISTRATOR, "dynamodb:PutResourcePolicy", "RUN#x")
