"""Signed approval links: what a link asserts, how it is read back, and what its signature covers."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.approval_web import links
from handlers.approval_web.links import InvalidLink, LinkClaims

APPROVAL_ID = "A" * 32
CLAIMS = LinkClaims(APPROVAL_ID, "approve", 1_796_000_000, "ops@example.com")
SIGNATURE = "s" * 43


class FakeKms:
    """KMS HMAC as far as links use it: every MAC is 32 zero bytes, and only that verifies."""

    class exceptions:  # boto3 spells it so
        class KMSInvalidMacException(Exception):
            pass

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def generate_mac(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {"Mac": bytes(32)}

    def verify_mac(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if request["Mac"] != bytes(32):
            raise self.exceptions.KMSInvalidMacException()
        return {"MacValid": True}


def test_a_link_opens_the_page_and_carries_only_its_claims_and_signature() -> None:
    url = links.url("https://approvals.example.test/v1/", CLAIMS, SIGNATURE)

    assert url == (
        f"https://approvals.example.test/v1/approvals/{APPROVAL_ID}"
        f"?action=approve&expires=1796000000&recipient=ops%40example.com&sig={SIGNATURE}"
    )


def test_a_request_is_read_back_into_the_claims_it_was_signed_for() -> None:
    fields = {"action": "approve", "expires": "1796000000", "recipient": "ops@example.com", "sig": SIGNATURE}

    claims, mac = LinkClaims.parse(APPROVAL_ID, fields)

    assert claims == CLAIMS
    assert len(mac) == 32


@pytest.mark.parametrize(
    ("approval_id", "fields", "problem"),
    [
        (APPROVAL_ID, {"expires": "1796000000", "recipient": "ops@example.com", "sig": SIGNATURE}, "action is missing"),
        (
            "short",
            {"action": "approve", "expires": "1796000000", "recipient": "a@b.c", "sig": SIGNATURE},
            "approval id",
        ),
        (APPROVAL_ID, {"action": "approve", "expires": "soon", "recipient": "a@b.c", "sig": SIGNATURE}, "expires"),
        (
            APPROVAL_ID,
            {"action": "approve", "expires": "1796000000", "recipient": "a\nb@c.d", "sig": SIGNATURE},
            "recipient",
        ),
        (APPROVAL_ID, {"action": "approve", "expires": "1796000000", "recipient": "a@b.c", "sig": "!" * 43}, "sig"),
        # "$" alone would accept each of these with its trailing newline.
        (
            f"{APPROVAL_ID}\n",
            {"action": "approve", "expires": "1796000000", "recipient": "a@b.c", "sig": SIGNATURE},
            "id",
        ),
        (APPROVAL_ID, {"action": "approve", "expires": "1796000000\n", "recipient": "a@b.c", "sig": SIGNATURE}, "exp"),
        (APPROVAL_ID, {"action": "approve", "expires": "1796000000", "recipient": "a@b.c\n", "sig": SIGNATURE}, "rec"),
        (
            APPROVAL_ID,
            {"action": "approve", "expires": "1796000000", "recipient": "a@b.c", "sig": f"{SIGNATURE}\n"},
            "sig",
        ),
    ],
)
def test_a_malformed_request_names_the_part_never_its_value(
    approval_id: str, fields: dict[str, str], problem: str
) -> None:
    with pytest.raises(InvalidLink, match=problem) as refused:
        LinkClaims.parse(approval_id, fields)
    for value in fields.values():
        if len(value) > 10:
            assert value not in str(refused.value)


def test_the_signature_covers_every_claim_under_the_links_own_context() -> None:
    message = CLAIMS.message().decode()

    assert message.split("\n") == [
        "patch-orchestrator/approval-link/v1",
        APPROVAL_ID,
        "approve",
        "1796000000",
        "ops@example.com",
    ]
    for changed in (
        LinkClaims(APPROVAL_ID, "reject", CLAIMS.expires, CLAIMS.recipient),
        LinkClaims(APPROVAL_ID, "approve", CLAIMS.expires + 1, CLAIMS.recipient),
        LinkClaims(APPROVAL_ID, "approve", CLAIMS.expires, "lead@example.com"),
    ):
        assert changed.message() != CLAIMS.message()


def test_links_are_signed_and_verified_by_kms_with_the_hubs_key() -> None:
    kms = FakeKms()

    signature = links.sign(kms, "key-arn", CLAIMS)  # type: ignore[arg-type]

    assert signature == "A" * 43  # unpadded base64url of 32 zero bytes
    assert links.verify(kms, "key-arn", CLAIMS, bytes(32))  # type: ignore[arg-type]
    assert not links.verify(kms, "key-arn", CLAIMS, bytes(31) + b"\x01")  # type: ignore[arg-type]
    assert {request["KeyId"] for request in kms.requests} == {"key-arn"}
    assert {request["MacAlgorithm"] for request in kms.requests} == {"HMAC_SHA_256"}


def test_approval_ids_are_fresh_and_of_the_links_shape() -> None:
    ids = {links.new_approval_id() for _ in range(50)}

    assert len(ids) == 50
    for approval_id in ids:
        LinkClaims(approval_id, "reject", 1_796_000_000, "ops@example.com")  # accepted as a link's id
