"""The approval handlers under attack (moto: DynamoDB, KMS HMAC, SNS, Step Functions with a real waiting task).

A tiny state machine waits on ``sns:publish.waitForTaskToken`` so every token here is a real one; whether the
waiting execution received a decision (and which) is read back from Step Functions itself.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from moto import mock_aws
from moto.sns.models import sns_backends

from handlers import approval_decision, request_approval
from handlers.common import approval_channel, approval_links, records, runtime
from handlers.common import approvals as approvals_module
from handlers.common.approval_links import LinkClaims
from handlers.common.aws import Clients
from handlers.common.runtime import Env
from handlers.contract.errors import ApprovalChannelUnsafe
from tests.support import approvals
from tests.support.approvals import DirectApi, Link
from tests.support.cfn import generated_template
from tests.support.rehearsal import EXECUTING_BACKENDS, HUB_ACCOUNT, HUB_REGION, FakeLambdaContext, subscribe_approver

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
RUN_ID = "2026-12-patch-tuesday"
APPROVERS = ["ops@example.com", "lead@example.com"]
API_URL = "https://approvals.example.test/v1"
WAITING_MACHINE = {
    "StartAt": "Wait",
    "States": {
        "Wait": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
            "Parameters": {"TopicArn.$": "$.topic", "Message.$": "$$.Task.Token"},
            "TimeoutSeconds": 3600,
            "End": True,
        }
    },
}


@dataclass
class Approvals:
    """A deployed approval back end with one wave waiting for a decision."""

    env: Env
    clients: Clients
    execution_arn: str
    token: str
    api: DirectApi
    monkeypatch: pytest.MonkeyPatch

    def request(self, *, token: str | None = None, approvers: list[str] | None = None) -> dict[str, Any]:
        event = {
            "runId": RUN_ID,
            "wave": wave(approvers or APPROVERS),
            "settings": SETTINGS,
            "taskToken": token or self.token,
        }
        return request_approval.handle(event, env=self.env, clients=self.clients, now=NOW)

    def emails(self) -> list[dict[str, Any]]:
        topic = sns_backends[HUB_ACCOUNT][HUB_REGION].topics[self.env.approval_topic_arn]
        return [
            {"subject": subject, "message": message, "approver": attributes["approver"]["Value"]}
            for _, message, subject, attributes, _ in topic.sent_notifications
        ]

    def links(self, approver: str = APPROVERS[0]) -> dict[str, Link]:
        message = next(email["message"] for email in self.emails() if email["approver"] == approver)
        return approvals.links(message)

    def approval(self, approval_id: str) -> dict[str, Any]:
        item = records.get_item(
            self.clients.hub("dynamodb"),
            self.env.table_name,
            {"pk": {"S": f"APPROVAL#{approval_id}"}, "sk": {"S": "META"}},
        )
        assert item is not None
        return item

    def execution(self) -> dict[str, Any]:
        described: dict[str, Any] = self.clients.hub("stepfunctions").describe_execution(
            executionArn=self.execution_arn
        )
        return described

    def settled_execution(self) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            described = self.execution()
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.02)
        raise AssertionError("the waiting execution never received a decision")

    def at(self, moment: datetime) -> None:
        """Answer the approval API at ``moment``."""
        self.monkeypatch.setattr(runtime, "utcnow", lambda: moment)


SETTINGS = {
    "operation": "Install",
    "rebootOption": "RebootIfNeeded",
    "selector": {"tags": {"PatchGroup": ["web"], "Environment": ["prod"]}},
}


def wave(approvers: list[str]) -> dict[str, Any]:
    return {
        "index": 1,
        "name": "fleet",
        "recordKey": "WAVE#01",
        "targets": [{"accounts": ["222222222222", "333333333333"], "regions": ["eu-west-1", "us-east-1"]}],
        "targetCount": 4,
        "maxConcurrency": "10%",
        "maxErrors": "5%",
        "approval": {"required": True, "timeoutMinutes": 240, "timeoutSeconds": 14400, "approvers": approvers},
    }


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Approvals]:
    template = generated_template("hub.json")["Resources"]
    with mock_aws(config=EXECUTING_BACKENDS):  # type: ignore[arg-type]
        table = template["PatchRunsTable"]["Properties"]
        boto3.client("dynamodb", region_name=HUB_REGION).create_table(
            TableName="runs",
            BillingMode=table["BillingMode"],
            AttributeDefinitions=table["AttributeDefinitions"],
            KeySchema=table["KeySchema"],
        )
        sns = boto3.client("sns", region_name=HUB_REGION)
        topic = sns.create_topic(Name="approvals")["TopicArn"]
        waiting_topic = sns.create_topic(Name="waiting")["TopicArn"]
        key = template["ApprovalSigningKey"]["Properties"]
        key_arn = boto3.client("kms", region_name=HUB_REGION).create_key(
            KeySpec=key["KeySpec"], KeyUsage=key["KeyUsage"]
        )["KeyMetadata"]["Arn"]
        sfn = boto3.client("stepfunctions", region_name=HUB_REGION)
        machine = sfn.create_state_machine(
            name="waiting", definition=json.dumps(WAITING_MACHINE), roleArn=f"arn:aws:iam::{HUB_ACCOUNT}:role/sfn"
        )["stateMachineArn"]
        execution = sfn.start_execution(
            stateMachineArn=machine, name="waiting", input=json.dumps({"topic": waiting_topic})
        )
        token = _wait_for_token(waiting_topic)
        environment = {
            "RUN_TABLE_NAME": "runs",
            "NAME_PREFIX": "patch-orchestrator",
            "AWS_REGION": HUB_REGION,
            "APPROVAL_TOPIC_ARN": topic,
            "APPROVAL_KEY_ARN": key_arn,
            "APPROVAL_API_URL": API_URL,
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        env = Env.from_environ(environment)
        clients = runtime.make_clients(env)
        monkeypatch.setattr(runtime, "utcnow", lambda: NOW + timedelta(minutes=5))
        for address in APPROVERS:
            subscribe_approver(topic, address)
        for handler in (approvals.approval_page, approvals.approval_decision):
            handler.lambda_handler.container.reset()  # type: ignore[attr-defined]
        yield Approvals(env, clients, execution["executionArn"], token, DirectApi(), monkeypatch)


def _wait_for_token(topic_arn: str) -> str:
    topic = sns_backends[HUB_ACCOUNT][HUB_REGION].topics[topic_arn]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if topic.sent_notifications:
            return str(topic.sent_notifications[0][1])
        time.sleep(0.01)
    raise AssertionError("the waiting state machine published no token")


def page_text(response: dict[str, Any]) -> str:
    return str(response["body"])


# Requesting an approval


def test_request_keeps_the_token_server_side_and_emails_each_approver_their_own_signed_links(hub: Approvals) -> None:
    result = hub.request()

    approval = hub.approval(result["approvalId"])
    assert approval["taskToken"] == hub.token
    assert (approval["status"], approval["runId"], approval["waveName"]) == ("PENDING", RUN_ID, "fleet")
    assert approval["linkExpiresAt"] == int((NOW + timedelta(minutes=240)).timestamp())
    assert approval["expiresAt"] == approval["linkExpiresAt"] + 7 * 86400  # the table's TTL removes it, token and all
    emails = hub.emails()
    assert sorted(email["approver"] for email in emails) == sorted(APPROVERS)
    for email in emails:
        links = approvals.links(email["message"])
        assert set(links) == {"approve", "reject"}
        for action, link in links.items():
            assert link.approval_id == result["approvalId"]
            assert link.fields["action"] == action
            assert link.fields["recipient"] == email["approver"]
            assert link.fields["expires"] == str(approval["linkExpiresAt"])
        assert hub.token not in email["message"]
        assert hub.token not in email["subject"]
    wave_record = records.get_item(hub.clients.hub("dynamodb"), "runs", records.key(RUN_ID, "WAVE#01"))
    assert wave_record is not None
    assert wave_record["approval"]["status"] == "PENDING"
    assert hub.token not in json.dumps(wave_record)


def test_the_email_says_what_will_be_patched_and_when_the_links_expire(hub: Approvals) -> None:
    dynamodb = hub.clients.hub("dynamodb")
    records.set_fields(
        dynamodb,
        "runs",
        records.key(RUN_ID, "WAVE#00"),
        {"waveIndex": 0, "name": "canary", "status": "COMPLETED", "outcome": 200,
         "counts": {"succeeded": 3, "failed": 0, "unreachable": 0, "notPatched": 0, "total": 3}},
    )  # fmt: skip
    hub.request()

    (email, *_) = hub.emails()
    text = email["message"]
    assert email["subject"] == f"Approve patch wave fleet of run {RUN_ID}?"
    for expected in (
        RUN_ID,
        "wave 'fleet'",
        "Operation: Install, reboot option: RebootIfNeeded",
        "Environment=prod, PatchGroup=web",
        "MaxConcurrency 10%, MaxErrors 5%",
        "accounts 222222222222, 333333333333 in eu-west-1, us-east-1",
        "canary: COMPLETED (200): 3 succeeded, 0 failed, 0 unreachable of 3",
        "expire 2026-12-08 13:00 UTC",
        "nothing is decided until you press its button",
    ):
        assert expected in text, expected


def test_a_retried_request_for_the_same_task_reuses_its_approval(hub: Approvals) -> None:
    first = hub.request()
    second = hub.request()

    assert second["approvalId"] == first["approvalId"]
    assert {link.approval_id for email in hub.emails() for link in approvals.links(email["message"]).values()} == {
        first["approvalId"]
    }


# Who receives links


def test_links_go_only_to_approvers_whose_subscription_is_filtered_to_them(hub: Approvals) -> None:
    subscribe_approver(hub.env.approval_topic_arn, "Night.Shift@Example.com")
    result = hub.request(approvers=[*APPROVERS, "night.shift@example.com", "not-subscribed@example.com"])

    sent = {email["approver"] for email in hub.emails()}
    assert sent == {*APPROVERS, "Night.Shift@Example.com"}  # the value the subscription's filter matches
    assert hub.approval(result["approvalId"])["approvers"] == [*APPROVERS, "night.shift@example.com"]
    wave_record = records.get_item(hub.clients.hub("dynamodb"), "runs", records.key(RUN_ID, "WAVE#01"))
    assert wave_record is not None
    assert wave_record["approval"]["unreachableApprovers"] == ["not-subscribed@example.com"]


LEAKY_SUBSCRIPTIONS = {
    "no filter policy": {},
    "a filter naming someone else": {"approver": [APPROVERS[0]]},
    "a filter naming two approvers": {"approver": APPROVERS},
    "a filter on another attribute": {"team": ["ops"]},
}


@pytest.mark.parametrize("policy", LEAKY_SUBSCRIPTIONS.values(), ids=LEAKY_SUBSCRIPTIONS.keys())
def test_a_subscription_that_would_read_others_links_stops_the_approval(hub: Approvals, policy: dict[str, Any]) -> None:
    subscribe_approver(hub.env.approval_topic_arn, "eavesdropper@example.com", filter_policy=policy)

    with pytest.raises(ApprovalChannelUnsafe, match=r"eavesdropper@example\.com.*would receive other approvers' links"):
        hub.request()

    assert hub.emails() == []
    assert list(records.query_prefix(hub.clients.hub("dynamodb"), "runs", RUN_ID, "")) == []


def test_a_subscription_that_is_not_email_stops_the_approval(hub: Approvals) -> None:
    queue = boto3.client("sqs", region_name=HUB_REGION).create_queue(QueueName="chat")["QueueUrl"]
    queue_arn = boto3.client("sqs", region_name=HUB_REGION).get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    hub.clients.hub("sns").subscribe(TopicArn=hub.env.approval_topic_arn, Protocol="sqs", Endpoint=queue_arn)

    with pytest.raises(ApprovalChannelUnsafe, match=r"\(sqs\) would receive approval links; only email"):
        hub.request()
    assert hub.emails() == []


def test_a_wave_none_of_whose_approvers_is_subscribed_gets_no_approval(hub: Approvals) -> None:
    with pytest.raises(ApprovalChannelUnsafe, match=r"none of the wave's approvers \(someone@example\.com\)"):
        hub.request(approvers=["someone@example.com"])
    assert hub.emails() == []


# Opening a link


def test_opening_a_link_shows_the_run_and_the_decision_but_never_decides(hub: Approvals) -> None:
    approval_id = hub.request()["approvalId"]
    link = hub.links()["approve"]

    for _ in range(3):  # a mail scanner, a link preview, the approver
        response = approvals.open_link(hub.api, link)
        assert response["statusCode"] == 200
    page = page_text(response)
    assert f"Approve wave fleet of patch run {RUN_ID}?" in page
    assert "<form method='post' action='./" + approval_id + "'>" in page
    assert "Opening this page recorded nothing" in page
    assert hub.approval(approval_id)["status"] == "PENDING"
    assert hub.execution()["status"] == "RUNNING"
    headers = approvals.headers(response)
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none': no script at all


def test_the_decision_route_never_answers_a_get(hub: Approvals) -> None:
    hub.request()
    link = hub.links()["approve"]
    event = approvals.api_event("GET", f"/approvals/{link.approval_id}", query=link.fields)

    response = approval_decision.lambda_handler(event, FakeLambdaContext("approval-decision"))

    assert response["statusCode"] == 404
    assert hub.approval(link.approval_id)["status"] == "PENDING"
    assert hub.execution()["status"] == "RUNNING"


# Deciding


def test_approving_records_who_from_where_and_tells_the_waiting_workflow_once(hub: Approvals) -> None:
    approval_id = hub.request()["approvalId"]
    link = hub.links()["approve"]

    response = approvals.confirm(hub.api, link, source_ip="198.51.100.20", user_agent="Firefox/140")

    assert response["statusCode"] == 200
    assert "Wave fleet approved" in page_text(response)
    approval = hub.approval(approval_id)
    assert approval["status"] == "DECIDED"
    assert (approval["decision"], approval["decidedBy"]) == ("APPROVED", APPROVERS[0])
    assert (approval["sourceIp"], approval["userAgent"]) == ("198.51.100.20", "Firefox/140")
    assert approval["decidedAt"] == "2026-12-08T09:05:00Z"
    assert "taskToken" not in approval  # it has done its one job
    execution = hub.settled_execution()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["decidedBy"] == APPROVERS[0]


def test_rejecting_fails_the_waiting_task_with_approval_rejected(hub: Approvals) -> None:
    hub.request()

    response = approvals.confirm(hub.api, hub.links(APPROVERS[1])["reject"])

    assert response["statusCode"] == 200
    assert "Wave fleet rejected" in page_text(response)
    execution = hub.settled_execution()
    assert execution["status"] == "FAILED"
    assert execution["error"] == "ApprovalRejected"


def test_a_replayed_or_contradicting_post_changes_nothing(hub: Approvals) -> None:
    approval_id = hub.request()["approvalId"]
    assert approvals.confirm(hub.api, hub.links()["approve"])["statusCode"] == 200

    replay = approvals.confirm(hub.api, hub.links()["approve"])
    contradiction = approvals.confirm(hub.api, hub.links(APPROVERS[1])["reject"], source_ip="192.0.2.66")

    for response in (replay, contradiction):
        assert response["statusCode"] == 409
        assert f"approved by {APPROVERS[0]}" in page_text(response)
    approval = hub.approval(approval_id)
    assert (approval["decision"], approval["decidedBy"], approval["sourceIp"]) == (
        "APPROVED",
        APPROVERS[0],
        "203.0.113.7",
    )
    assert hub.settled_execution()["status"] == "SUCCEEDED"
    assert approvals.open_link(hub.api, hub.links()["reject"])["statusCode"] == 409


# Links that were not issued as they are


def _forged(link: Link) -> Link:
    return link.with_fields(sig=base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode())


TAMPERED = {
    "forged signature": _forged,
    "reject link turned into approve": lambda link: link.with_fields(action="approve"),
    "expiry pushed out": lambda link: link.with_fields(expires=str(int(link.fields["expires"]) + 86400)),
    "someone else as recipient": lambda link: link.with_fields(recipient="mallory@example.com"),
    "signature of another approval": lambda link: link.with_id(approval_links.new_approval_id()),
}


@pytest.mark.parametrize("tamper", TAMPERED.values(), ids=TAMPERED.keys())
def test_a_forged_or_tampered_link_is_refused_by_page_and_decision(hub: Approvals, tamper: Any) -> None:
    approval_id = hub.request()["approvalId"]
    link = tamper(hub.links()["reject"])

    page = approvals.open_link(hub.api, link)
    decision = approvals.confirm(hub.api, link)

    assert (page["statusCode"], decision["statusCode"]) == (403, 403)
    assert "not valid" in page_text(decision)
    assert hub.approval(approval_id)["status"] == "PENDING"
    assert hub.execution()["status"] == "RUNNING"


def test_an_expired_link_is_refused_even_with_a_valid_signature(hub: Approvals) -> None:
    approval_id = hub.request()["approvalId"]
    link = hub.links()["approve"]
    hub.at(NOW + timedelta(minutes=240, seconds=1))

    assert approvals.open_link(hub.api, link)["statusCode"] == 410
    response = approvals.confirm(hub.api, link)

    assert response["statusCode"] == 410
    assert "expired" in page_text(response)
    assert hub.approval(approval_id)["status"] == "PENDING"
    assert hub.execution()["status"] == "RUNNING"


def test_a_validly_signed_link_for_an_unknown_approval_is_not_found(hub: Approvals) -> None:
    claims = LinkClaims(
        approval_links.new_approval_id(), "approve", int((NOW + timedelta(hours=1)).timestamp()), APPROVERS[0]
    )
    signature = approval_links.sign(hub.clients.hub("kms"), hub.env.approval_key_arn, claims)
    link = Link.parse(approval_links.url(API_URL, claims, signature))

    assert approvals.open_link(hub.api, link)["statusCode"] == 404
    assert approvals.confirm(hub.api, link)["statusCode"] == 404


def test_a_signed_link_for_someone_who_is_not_an_approver_cannot_decide(hub: Approvals) -> None:
    approval_id = hub.request()["approvalId"]
    claims = LinkClaims(approval_id, "approve", hub.approval(approval_id)["linkExpiresAt"], "intruder@example.com")
    signature = approval_links.sign(hub.clients.hub("kms"), hub.env.approval_key_arn, claims)

    response = approvals.confirm(hub.api, Link.parse(approval_links.url(API_URL, claims, signature)))

    assert response["statusCode"] == 403
    assert hub.approval(approval_id)["status"] == "PENDING"


MALFORMED = {
    "no signature": lambda link: Link(link.approval_id, {k: v for k, v in link.fields.items() if k != "sig"}),
    "expiry not a number": lambda link: link.with_fields(expires="tomorrow"),
    "unknown action": lambda link: link.with_fields(action="approve-all"),
    "id with other characters": lambda link: link.with_id(quote("../../etc/passwd", safe="")),
    "signature not base64url": lambda link: link.with_fields(sig="!" * 43),
}


@pytest.mark.parametrize("damage", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_link_is_a_bad_request(hub: Approvals, damage: Any) -> None:
    approval_id = hub.request()["approvalId"]
    link = damage(hub.links()["approve"])

    assert approvals.open_link(hub.api, link)["statusCode"] == 400
    assert approvals.confirm(hub.api, link)["statusCode"] == 400
    assert hub.approval(approval_id)["status"] == "PENDING"
    assert hub.execution()["status"] == "RUNNING"


def test_recipient_text_is_escaped_on_the_page(hub: Approvals) -> None:
    subscribe_approver(hub.env.approval_topic_arn, "<script>alert(1)</script>@example.com")
    hub.request(approvers=["<script>alert(1)</script>@example.com"])
    link = approvals.links(hub.emails()[0]["message"])["approve"]

    page = page_text(approvals.open_link(hub.api, link))

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.com" in page


# When the workflow no longer waits, or cannot be told


def test_a_decision_the_workflow_no_longer_waits_for_is_not_applied(hub: Approvals) -> None:
    approval_id = hub.request(token="token-of-a-task-that-has-ended")["approvalId"]

    response = approvals.confirm(hub.api, hub.links()["approve"])

    assert response["statusCode"] == 410
    assert "already stopped waiting" in page_text(response)
    approval = hub.approval(approval_id)
    assert approval["status"] == "UNDELIVERED"
    assert "taskToken" not in approval
    assert approvals.confirm(hub.api, hub.links()["approve"])["statusCode"] == 410


def delivery_failing_with(error: Exception) -> Any:
    """A stand-in for ApprovalDecision's call to Step Functions that fails with ``error``."""

    def deliver(stepfunctions: Any, task_token: str, outcome: dict[str, Any]) -> None:
        raise error

    return deliver


def test_a_decision_that_cannot_be_delivered_leaves_the_approval_open_to_try_again(
    hub: Approvals, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval_id = hub.request()["approvalId"]
    link = hub.links()["approve"]
    original = approval_decision._deliver
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendTaskSuccess")
    monkeypatch.setattr(approval_decision, "_deliver", delivery_failing_with(throttled))
    response = approvals.confirm(hub.api, link)
    assert response["statusCode"] == 503
    approval = hub.approval(approval_id)
    assert approval["status"] == "PENDING"
    assert "decidedBy" not in approval

    monkeypatch.setattr(approval_decision, "_deliver", original)
    assert approvals.confirm(hub.api, link)["statusCode"] == 200
    assert hub.settled_execution()["status"] == "SUCCEEDED"


def test_an_unconfirmed_delivery_keeps_the_decision_and_the_same_link_sends_it_again(
    hub: Approvals, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval_id = hub.request()["approvalId"]
    link = hub.links()["approve"]
    original = approval_decision._deliver
    timed_out = ReadTimeoutError(endpoint_url="https://states.eu-west-1.amazonaws.com")
    monkeypatch.setattr(approval_decision, "_deliver", delivery_failing_with(timed_out))
    response = approvals.confirm(hub.api, link, source_ip="198.51.100.20")
    assert response["statusCode"] == 503
    assert "recorded, but not yet confirmed" in page_text(response)
    approval = hub.approval(approval_id)
    assert (approval["status"], approval["delivered"], approval["decidedBy"]) == ("DECIDED", False, APPROVERS[0])
    assert hub.execution()["status"] == "RUNNING"
    # Nobody else can decide meanwhile.
    assert approvals.confirm(hub.api, hub.links(APPROVERS[1])["reject"])["statusCode"] == 409

    # A second click at once is the same decision, already recorded: nothing is sent twice at the same time.
    assert approvals.confirm(hub.api, link)["statusCode"] == 409
    assert approvals.open_link(hub.api, link)["statusCode"] == 409
    # Once the first attempt has certainly ended, the approver's own link offers to send it again.
    hub.at(NOW + timedelta(minutes=5, seconds=approvals_module.REDELIVERY_AFTER_SECONDS + 1))
    page = approvals.open_link(hub.api, link)
    assert page["statusCode"] == 200
    assert "Send again: approve wave fleet" in page_text(page)

    monkeypatch.setattr(approval_decision, "_deliver", original)
    again = approvals.confirm(hub.api, link, source_ip="192.0.2.99")
    assert again["statusCode"] == 200
    execution = hub.settled_execution()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["sourceIp"] == "198.51.100.20"  # the decision as first recorded
    assert hub.approval(approval_id)["delivered"] is True


def test_a_delivery_that_arrived_unconfirmed_is_not_reported_as_not_applied(
    hub: Approvals, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval_id = hub.request()["approvalId"]
    link = hub.links()["approve"]
    original = approval_decision._deliver

    def arrived_but_answer_lost(stepfunctions: Any, task_token: str, outcome: dict[str, Any]) -> None:
        original(stepfunctions, task_token, outcome)
        raise EndpointConnectionError(endpoint_url="https://states.eu-west-1.amazonaws.com")

    monkeypatch.setattr(approval_decision, "_deliver", arrived_but_answer_lost)
    assert approvals.confirm(hub.api, link)["statusCode"] == 503
    assert hub.settled_execution()["status"] == "SUCCEEDED"

    monkeypatch.setattr(approval_decision, "_deliver", original)
    hub.at(NOW + timedelta(minutes=5, seconds=approvals_module.REDELIVERY_AFTER_SECONDS + 1))
    again = approvals.confirm(hub.api, link)

    assert again["statusCode"] == 409
    assert "If an earlier confirmation reached the workflow, it acted on it" in page_text(again)
    approval = hub.approval(approval_id)
    assert approval["delivered"] is None
    assert "taskToken" not in approval


# What must never be written down


def test_tokens_and_signatures_never_reach_the_logs(hub: Approvals, capsys: pytest.CaptureFixture[str]) -> None:
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(runtime.logger.registered_formatter)
    runtime.logger.addHandler(handler)
    request_approval.lambda_handler(
        {"runId": RUN_ID, "wave": wave(APPROVERS), "settings": SETTINGS, "taskToken": hub.token},
        FakeLambdaContext("request-approval"),
    )
    links = hub.links()
    approvals.open_link(hub.api, links["approve"])
    approvals.open_link(hub.api, _forged(links["approve"]))
    approvals.confirm(hub.api, links["reject"].with_fields(action="approve"))
    approvals.confirm(hub.api, links["approve"])
    approvals.confirm(hub.api, links["approve"])

    runtime.logger.removeHandler(handler)
    captured = capsys.readouterr()
    output = logs.getvalue() + captured.out + captured.err
    assert "approval decided" in output  # the logs are there...
    assert hub.token not in output  # ...without the token
    for link in links.values():
        assert link.fields["sig"] not in output
    assert API_URL not in output


class _ListedSubscriptions:
    """SNS as an approvals topic with subscriptions moto cannot produce (unsubscribed, unconfirmed)."""

    def __init__(self, listed: list[dict[str, str]], attributes: dict[str, dict[str, str]]) -> None:
        self.listed, self.attributes = listed, attributes

    def get_paginator(self, _operation: str) -> Any:
        listed = self.listed
        return type("Paginator", (), {"paginate": lambda _self, **_kwargs: [{"Subscriptions": listed}]})()

    def get_subscription_attributes(self, SubscriptionArn: str) -> dict[str, Any]:
        return {"Attributes": self.attributes[SubscriptionArn]}


def test_unsubscribed_and_unconfirmed_subscriptions_receive_nothing_and_break_nothing() -> None:
    arn = "arn:aws:sns:eu-west-1:123456789012:approvals:1"
    pending = "arn:aws:sns:eu-west-1:123456789012:approvals:2"
    sns = _ListedSubscriptions(
        [
            {"SubscriptionArn": "Deleted", "Protocol": "email", "Endpoint": "left@example.com"},
            {"SubscriptionArn": "PendingConfirmation", "Protocol": "email", "Endpoint": "new@example.com"},
            {"SubscriptionArn": pending, "Protocol": "https", "Endpoint": "https://chat.example.test/hook"},
            {"SubscriptionArn": arn, "Protocol": "email", "Endpoint": "ops@example.com"},
        ],
        {
            pending: {"PendingConfirmation": "true"},
            arn: {"PendingConfirmation": "false", "FilterPolicy": json.dumps({"approver": ["ops@example.com"]})},
        },
    )

    found = approval_channel.recipients(sns, "topic", ["ops@example.com", "left@example.com", "new@example.com"])

    assert found.reachable == {"ops@example.com": "ops@example.com"}
    assert found.unreachable == ["left@example.com", "new@example.com"]
