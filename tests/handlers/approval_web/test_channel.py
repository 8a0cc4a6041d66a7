"""Who may receive approval links: confirmed email subscriptions filtered to their own address, no one else."""

from __future__ import annotations

import json
from typing import Any

from handlers.approval_web import channel


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

    found = channel.recipients(sns, "topic", ["ops@example.com", "left@example.com", "new@example.com"])

    assert found.reachable == {"ops@example.com": "ops@example.com"}
    assert found.unreachable == ["left@example.com", "new@example.com"]
