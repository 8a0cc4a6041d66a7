"""ApprovalPage (GET): a link opens a confirmation page that shows what it will decide and changes nothing."""

from __future__ import annotations

from rehearsal import approvals
from rehearsal.hub import subscribe_approver
from tests.handlers.approval_backend import APPROVERS, RUN_ID, Approvals, page_text


def test_opening_a_link_shows_the_run_and_the_decision_but_never_decides(backend: Approvals) -> None:
    approval_id = backend.request()["approvalId"]
    link = backend.links()["approve"]

    for _ in range(3):  # a mail scanner, a link preview, the approver
        response = approvals.open_link(backend.api, link)
        assert response["statusCode"] == 200
    page = page_text(response)
    assert f"Approve wave fleet of patch run {RUN_ID}?" in page
    assert "<form method='post' action='./" + approval_id + "'>" in page
    assert "Opening this page recorded nothing" in page
    assert backend.approval(approval_id)["status"] == "PENDING"
    assert backend.execution()["status"] == "RUNNING"
    headers = approvals.headers(response)
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none': no script at all


def test_recipient_text_is_escaped_on_the_page(backend: Approvals) -> None:
    subscribe_approver(backend.env.approval_topic_arn, "<script>alert(1)</script>@example.com")
    backend.allow("<script>alert(1)</script>@example.com")
    backend.request(approvers=["<script>alert(1)</script>@example.com"])
    link = approvals.links(backend.emails()[0]["message"])["approve"]

    page = page_text(approvals.open_link(backend.api, link))

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.com" in page


def test_a_wave_that_needs_several_approvers_says_so_and_who_has_approved(backend: Approvals) -> None:
    backend.allow(minimum=2)
    backend.request()
    first, second = (backend.links(approver)["approve"] for approver in APPROVERS)
    approvals.confirm(backend.api, first)

    again = page_text(approvals.open_link(backend.api, first))
    other = page_text(approvals.open_link(backend.api, second))

    assert "You have already approved wave fleet" in again
    assert "This wave needs 2 approvers to approve" in other
    assert f"Approved so far by {APPROVERS[0]}." in other
