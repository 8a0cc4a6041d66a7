"""The approval API's edge: links the hub did not issue as they are are refused by both routes, before any
record is read or changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from handlers.approval_web import http, links
from handlers.approval_web.links import LinkClaims
from rehearsal import approvals
from rehearsal.approvals import Link
from tests.handlers.approval_backend import API_URL, APPROVERS, NOW, Approvals, forged, page_text

TAMPERED = {
    "forged signature": forged,
    "reject link turned into approve": lambda link: link.with_fields(action="approve"),
    "expiry pushed out": lambda link: link.with_fields(expires=str(int(link.fields["expires"]) + 86400)),
    "someone else as recipient": lambda link: link.with_fields(recipient="mallory@example.com"),
    "signature of another approval": lambda link: link.with_id(links.new_approval_id()),
}


@pytest.mark.parametrize("tamper", TAMPERED.values(), ids=TAMPERED.keys())
def test_a_forged_or_tampered_link_is_refused_by_page_and_decision(backend: Approvals, tamper: Any) -> None:
    approval_id = backend.request()["approvalId"]
    link = tamper(backend.links()["reject"])

    page = approvals.open_link(backend.api, link)
    decision = approvals.confirm(backend.api, link)

    assert (page["statusCode"], decision["statusCode"]) == (403, 403)
    assert "not valid" in page_text(decision)
    assert backend.approval(approval_id)["status"] == "PENDING"
    assert backend.execution()["status"] == "RUNNING"


def test_an_expired_link_is_refused_even_with_a_valid_signature(backend: Approvals) -> None:
    approval_id = backend.request()["approvalId"]
    link = backend.links()["approve"]
    backend.at(NOW + timedelta(minutes=240, seconds=1))

    assert approvals.open_link(backend.api, link)["statusCode"] == 410
    response = approvals.confirm(backend.api, link)

    assert response["statusCode"] == 410
    assert "expired" in page_text(response)
    assert backend.approval(approval_id)["status"] == "PENDING"
    assert backend.execution()["status"] == "RUNNING"


def test_a_validly_signed_link_for_an_unknown_approval_is_not_found(backend: Approvals) -> None:
    claims = LinkClaims(links.new_approval_id(), "approve", int((NOW + timedelta(hours=1)).timestamp()), APPROVERS[0])
    signature = links.sign(backend.clients.kms(), backend.env.approval_key_arn, claims)
    link = Link.parse(links.url(API_URL, claims, signature))

    assert approvals.open_link(backend.api, link)["statusCode"] == 404
    assert approvals.confirm(backend.api, link)["statusCode"] == 404


MALFORMED = {
    "no signature": lambda link: Link(link.approval_id, {k: v for k, v in link.fields.items() if k != "sig"}),
    "expiry not a number": lambda link: link.with_fields(expires="tomorrow"),
    "unknown action": lambda link: link.with_fields(action="approve-all"),
    "id with other characters": lambda link: link.with_id(quote("../../etc/passwd", safe="")),
    "signature not base64url": lambda link: link.with_fields(sig="!" * 43),
}


@pytest.mark.parametrize("damage", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_link_is_a_bad_request(backend: Approvals, damage: Any) -> None:
    approval_id = backend.request()["approvalId"]
    link = damage(backend.links()["approve"])

    assert approvals.open_link(backend.api, link)["statusCode"] == 400
    assert approvals.confirm(backend.api, link)["statusCode"] == 400
    assert backend.approval(approval_id)["status"] == "PENDING"
    assert backend.execution()["status"] == "RUNNING"


@pytest.mark.parametrize("function", ["ApprovalDecision", "ApprovalPage"])
def test_the_approval_api_answers_a_route_it_does_not_serve_with_a_not_found_page(
    backend: Approvals, function: str
) -> None:
    wrong_method = "POST" if function == "ApprovalPage" else "GET"
    for event in (approvals.api_event("GET", "/admin"), approvals.api_event(wrong_method, "/approvals/abc")):
        response = backend.api.invoke(function, event)
        assert response["statusCode"] == 404, event["path"]
        assert "Not found" in response["body"]


def test_an_unexpected_error_is_a_page_that_says_nothing_was_recorded(
    backend: Approvals, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.request()
    link = backend.links()["approve"]

    def broken(_request: object) -> None:
        raise RuntimeError("the table is gone, with a secret in the message")

    monkeypatch.setattr(http, "verified_link", broken)
    response = approvals.open_link(backend.api, link)

    assert response["statusCode"] == 500
    assert "Please open your link again in a minute" in page_text(response)
    assert "secret" not in page_text(response)
    assert approvals.headers(response)["Cache-Control"] == "no-store"


def test_a_form_too_large_to_be_a_link_is_not_read() -> None:
    assert http._form_fields("action=approve&" + "x" * http.MAX_FORM_BYTES) == {}
    assert http._form_fields("action=approve&sig=abc&sig=def") == {"action": "approve", "sig": "abc"}
