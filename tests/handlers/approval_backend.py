"""A deployed approval back end (moto: DynamoDB, KMS HMAC, SNS, Step Functions with a real waiting task).

A tiny state machine waits on ``sns:publish.waitForTaskToken`` so every token here is a real one; whether the
waiting execution received a decision (and which) is read back from Step Functions itself. It is the rehearsal's
hub (``rehearsal.hub``): the approval functions read the environment the generated template gives them.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.sns.models import sns_backends

from handlers import request_approval
from handlers.contract.environment import RequestApprovalEnv
from handlers.records.items import ApprovalRecord, WaveRecord
from handlers.records.repository import RunTable
from handlers.runtime import entry
from handlers.runtime.clients import HubClients
from rehearsal import approvals
from rehearsal.approvals import DirectApi, Link
from rehearsal.hub import HUB_ACCOUNT, HUB_REGION, rehearsal, subscribe_approver

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


@dataclass
class Approvals:
    """A deployed approval back end with one wave waiting for a decision."""

    env: RequestApprovalEnv
    clients: HubClients
    execution_arn: str
    token: str
    api: DirectApi
    monkeypatch: pytest.MonkeyPatch

    @property
    def runs(self) -> RunTable:
        return RunTable(self.clients.dynamodb(), self.env.table_name)

    def allow(self, *addresses: str, minimum: int | None = None) -> None:
        """Change the hub's approval policy: ``addresses`` join its approvers; ``minimum`` must approve."""
        approvers = ",".join([self.env.approvers, *addresses])
        self.env = dataclasses.replace(
            self.env, approvers=approvers, minimum_approvers=minimum or self.env.minimum_approvers
        )

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

    def approval(self, approval_id: str) -> ApprovalRecord:
        item = self.runs.get_approval(approval_id)
        assert item is not None
        return item

    def wave_record(self, wave_index: int) -> WaveRecord:
        (item,) = [item for item in self.runs.waves(RUN_ID) if item["waveIndex"] == wave_index]
        return item

    def execution(self) -> dict[str, Any]:
        described: dict[str, Any] = self.clients.stepfunctions().describe_execution(executionArn=self.execution_arn)
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
        self.monkeypatch.setattr(entry, "utcnow", lambda: moment)


@contextmanager
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Approvals]:
    """The rehearsal's hub, with a tiny state machine waiting for a decision (its token is a real one)."""
    with rehearsal(monkeypatch) as hub:
        sns = boto3.client("sns", region_name=HUB_REGION)
        waiting_topic = sns.create_topic(Name="waiting")["TopicArn"]
        sfn = boto3.client("stepfunctions", region_name=HUB_REGION)
        machine = sfn.create_state_machine(
            name="waiting", definition=json.dumps(WAITING_MACHINE), roleArn=f"arn:aws:iam::{HUB_ACCOUNT}:role/sfn"
        )["stateMachineArn"]
        execution = sfn.start_execution(
            stateMachineArn=machine, name="waiting", input=json.dumps({"topic": waiting_topic})
        )
        token = _wait_for_token(waiting_topic)
        hub.set_setting("APPROVAL_API_URL", API_URL)
        env = RequestApprovalEnv.from_environ(hub.environments["RequestApproval"])
        monkeypatch.setattr(entry, "utcnow", lambda: NOW + timedelta(minutes=5))
        for address in APPROVERS:
            subscribe_approver(env.approval_topic_arn, address)
        yield Approvals(env, HubClients(region=HUB_REGION), execution["executionArn"], token, DirectApi(), monkeypatch)


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


def forged(link: Link) -> Link:
    return link.with_fields(sig=base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode())
