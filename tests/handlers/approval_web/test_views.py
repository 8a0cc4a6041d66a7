"""What approvers see: pages that run no script and say what happened; an email that says what it decides."""

from __future__ import annotations

import base64
import hashlib
import re

from handlers.approval_web import views
from handlers.approval_web.links import LinkClaims

PLAN = {
    "waveName": "fleet",
    "waveIndex": 1,
    "targetCount": 40,
    "targets": [{"accounts": ["222222222222"], "moreAccounts": 19, "regions": ["eu-west-1"]}],
    "selector": {"tags": {"PatchGroup": ["web"]}},
    "operation": "Install",
    "rebootOption": "NoReboot",
    "maxConcurrency": "10%",
    "maxErrors": "5%",
    "previousWaves": [],
}
APPROVAL = {"runId": "run-<1>", "waveName": "fleet", "plan": PLAN, "linkExpiresAt": 1_796_000_000}


def test_the_only_style_a_page_may_use_is_its_own() -> None:
    page = views.UNKNOWN_APPROVAL.render()
    (style,) = re.findall(r"<style>(.*?)</style>", page)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()

    assert f"style-src 'sha256-{digest}'" in views.HEADERS["Content-Security-Policy"]
    assert "<script" not in page


def test_the_confirmation_page_posts_the_link_back_and_escapes_the_run() -> None:
    claims = LinkClaims("A" * 32, "reject", 1_796_000_000, "ops@example.com")

    page = views.confirmation_page(APPROVAL, claims, "s" * 43)

    assert page.status == 200
    assert page.title == "Reject wave fleet of patch run run-<1>?"
    assert "run-&lt;1&gt;" in page.render()
    assert f"<form method='post' action='./{'A' * 32}'>" in page.body
    assert "<input type='hidden' name='sig' value='" + "s" * 43 + "'>" in page.body
    assert "The run will stop before this wave" in page.body


def test_a_decision_is_confirmed_once_and_reported_as_final_after() -> None:
    decision = {"runId": "r", "waveName": "fleet", "decision": "APPROVED", "decidedBy": "ops", "decidedAt": "t"}

    assert views.decided_page(decision, just_now=True).status == 200
    later = views.decided_page(decision, just_now=False)
    assert (later.status, later.title) == (409, "This approval has already been decided")
    assert views.decided_page(decision | {"delivered": None}, just_now=False) is views.NO_LONGER_WAITING


def test_the_email_says_whom_it_is_for_and_keeps_its_subject_short() -> None:
    long_run = {**APPROVAL, "runId": "r" * 120, "recipient": "ops@example.com"}

    subject, body = views.email(long_run, approve_url="https://a/approve", reject_url="https://a/reject")

    assert len(subject) == 100
    assert "These links are for ops@example.com and expire 2026-11-30" in body
    assert "accounts 222222222222 and 19 more in eu-west-1" in body
    assert "Approve: https://a/approve" in body
    assert "Reject:  https://a/reject" in body
