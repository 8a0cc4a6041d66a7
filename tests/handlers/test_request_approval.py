"""RequestApproval: the task token stays in the hub; each approver whose subscription only they read gets
signed links; a subscription others could read stops the approval."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from handlers.contract.errors import ApprovalChannelUnsafe
from handlers.records.codec import to_item
from rehearsal import approvals
from rehearsal.hub import HUB_REGION, subscribe_approver
from tests.handlers.approval_backend import APPROVERS, NOW, RUN_ID, Approvals


def test_request_keeps_the_token_server_side_and_emails_each_approver_their_own_signed_links(
    backend: Approvals,
) -> None:
    result = backend.request()

    approval = backend.approval(result["approvalId"])
    assert approval["taskToken"] == backend.token
    assert (approval["status"], approval["runId"], approval["waveName"]) == ("PENDING", RUN_ID, "fleet")
    assert approval["linkExpiresAt"] == int((NOW + timedelta(minutes=240)).timestamp())
    assert approval["expiresAt"] == approval["linkExpiresAt"] + 7 * 86400  # the table's TTL removes it, token and all
    emails = backend.emails()
    assert sorted(email["approver"] for email in emails) == sorted(APPROVERS)
    for email in emails:
        links = approvals.links(email["message"])
        assert set(links) == {"approve", "reject"}
        for action, link in links.items():
            assert link.approval_id == result["approvalId"]
            assert link.fields["action"] == action
            assert link.fields["recipient"] == email["approver"]
            assert link.fields["expires"] == str(approval["linkExpiresAt"])
        assert backend.token not in email["message"]
        assert backend.token not in email["subject"]
    wave_record = backend.wave_record(1)
    assert wave_record["approval"]["status"] == "PENDING"
    assert backend.token not in json.dumps(wave_record)


def test_the_email_says_what_will_be_patched_and_when_the_links_expire(backend: Approvals) -> None:
    earlier = {
        "pk": f"RUN#{RUN_ID}",
        "sk": "WAVE#00",
        "waveIndex": 0,
        "name": "canary",
        "status": "COMPLETED",
        "outcome": 200,
        "counts": {"succeeded": 3, "failed": 0, "unreachable": 0, "notPatched": 0, "total": 3},
    }
    backend.clients.dynamodb().put_item(TableName=backend.env.table_name, Item=to_item(earlier))
    backend.request()

    (email, *_) = backend.emails()
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


def test_a_retried_request_for_the_same_task_reuses_its_approval(backend: Approvals) -> None:
    first = backend.request()
    second = backend.request()

    assert second["approvalId"] == first["approvalId"]
    assert {link.approval_id for email in backend.emails() for link in approvals.links(email["message"]).values()} == {
        first["approvalId"]
    }


# Who receives links


def test_links_go_only_to_approvers_whose_subscription_is_filtered_to_them(backend: Approvals) -> None:
    subscribe_approver(backend.env.approval_topic_arn, "Night.Shift@Example.com")
    backend.allow("not-subscribed@example.com")
    result = backend.request(approvers=[*APPROVERS, "night.shift@example.com", "not-subscribed@example.com"])

    sent = {email["approver"] for email in backend.emails()}
    assert sent == {*APPROVERS, "Night.Shift@Example.com"}  # the value the subscription's filter matches
    assert backend.approval(result["approvalId"])["approvers"] == [*APPROVERS, "night.shift@example.com"]
    wave_record = backend.wave_record(1)
    assert wave_record["approval"]["unreachableApprovers"] == ["not-subscribed@example.com"]


LEAKY_SUBSCRIPTIONS = {
    "no filter policy": {},
    "a filter naming someone else": {"approver": [APPROVERS[0]]},
    "a filter naming two approvers": {"approver": APPROVERS},
    "a filter on another attribute": {"team": ["ops"]},
}


@pytest.mark.parametrize("policy", LEAKY_SUBSCRIPTIONS.values(), ids=LEAKY_SUBSCRIPTIONS.keys())
def test_a_subscription_that_would_read_others_links_stops_the_approval(
    backend: Approvals, policy: dict[str, Any]
) -> None:
    subscribe_approver(backend.env.approval_topic_arn, "eavesdropper@example.com", filter_policy=policy)

    with pytest.raises(ApprovalChannelUnsafe, match=r"eavesdropper@example\.com.*would receive other approvers' links"):
        backend.request()

    assert backend.emails() == []
    assert list(backend.runs.items(RUN_ID)) == []


def test_a_subscription_that_is_not_email_stops_the_approval(backend: Approvals) -> None:
    queue = boto3.client("sqs", region_name=HUB_REGION).create_queue(QueueName="chat")["QueueUrl"]
    queue_arn = boto3.client("sqs", region_name=HUB_REGION).get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    backend.clients.sns().subscribe(TopicArn=backend.env.approval_topic_arn, Protocol="sqs", Endpoint=queue_arn)

    with pytest.raises(ApprovalChannelUnsafe, match=r"\(sqs\) would receive approval links; only email"):
        backend.request()
    assert backend.emails() == []


def test_a_wave_none_of_whose_approvers_is_subscribed_gets_no_approval(backend: Approvals) -> None:
    backend.allow("someone@example.com")
    with pytest.raises(ApprovalChannelUnsafe, match=r"none of the wave's approvers \(someone@example\.com\)"):
        backend.request(approvers=["someone@example.com"])
    assert backend.emails() == []


def test_a_wave_naming_an_approver_the_hub_does_not_allow_gets_no_approval(backend: Approvals) -> None:
    """An invoke's event is not the policy: RequestApproval checks the hub's Approvers itself."""
    subscribe_approver(backend.env.approval_topic_arn, "mallory@example.com")

    with pytest.raises(ApprovalChannelUnsafe, match=r"approvers the hub does not allow \(mallory@example\.com;"):
        backend.request(approvers=[APPROVERS[0], "mallory@example.com"])

    assert backend.emails() == []
    assert list(backend.runs.items(RUN_ID)) == []


def test_a_wave_fewer_of_whose_approvers_can_be_reached_than_must_agree_gets_no_approval(backend: Approvals) -> None:
    backend.allow("not-subscribed@example.com", minimum=2)

    with pytest.raises(ApprovalChannelUnsafe, match=r"only 1 of the wave's approvers .* needs 2 to approve"):
        backend.request(approvers=[APPROVERS[0], "not-subscribed@example.com"])

    assert backend.emails() == []


def test_the_approval_records_how_many_must_approve(backend: Approvals) -> None:
    backend.allow(minimum=2)

    result = backend.request()

    assert backend.approval(result["approvalId"])["minimumApprovers"] == 2
    assert backend.wave_record(1)["approval"]["minimumApprovers"] == 2
