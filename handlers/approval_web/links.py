"""Signed approval links: what an emailed link carries, and how the hub signs and checks it.

A link names an approval id, the action it will record (approve or reject), when it expires and whom it was
sent to, and an HMAC over exactly those four fields made by the hub's KMS HMAC key. The task token is never in
a link: it stays in the run table under the approval id. KMS compares MACs itself (``VerifyMac``), so no MAC is
ever compared, or logged, in this code.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlencode

from handlers.contract import run_document

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

APPROVE = "approve"
REJECT = "reject"
ACTIONS = (APPROVE, REJECT)
MAC_ALGORITHM: Final = "HMAC_SHA_256"
# Versioned domain separation: a MAC made for anything else with this key can never pass as a link's.
_CONTEXT = "patch-orchestrator/approval-link/v1"
# Matched whole (fullmatch): "$" alone would accept a trailing newline.
_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, unpadded base64url
_EPOCH = re.compile(r"[0-9]{10}")


class InvalidLink(ValueError):
    """The request does not carry a well-formed link (the message says which part, never its value)."""


@functools.cache
def _recipient_rule() -> tuple[re.Pattern[str], int]:
    """The run document's rule for an approver address: every approver a run accepts can be signed for."""
    items = run_document.schema()["definitions"]["approval"]["properties"]["approvers"]["items"]
    return re.compile(items["pattern"]), int(items["maxLength"])


def new_approval_id() -> str:
    """A fresh, unguessable approval id (192 random bits)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class LinkClaims:
    """What a signed link asserts."""

    approval_id: str
    action: str
    expires: int  # epoch seconds
    recipient: str

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.approval_id):
            raise InvalidLink("approval id is malformed")
        if self.action not in ACTIONS:
            raise InvalidLink("action must be approve or reject")
        if not _EPOCH.fullmatch(str(self.expires)):
            raise InvalidLink("expires is malformed")
        pattern, length = _recipient_rule()
        if len(self.recipient) > length or not pattern.fullmatch(self.recipient):
            raise InvalidLink("recipient is malformed")

    def message(self) -> bytes:
        """The signed bytes. Every field is checked above to hold no newline, so the encoding is unambiguous."""
        return "\n".join((_CONTEXT, self.approval_id, self.action, str(self.expires), self.recipient)).encode()

    @classmethod
    def parse(cls, approval_id: str, fields: Mapping[str, Any]) -> tuple[LinkClaims, bytes]:
        """The claims and MAC of a request: ``approval_id`` from the path, the rest from query or form fields."""
        values = {}
        for name in ("action", "expires", "recipient", "sig"):
            value = fields.get(name)
            if not isinstance(value, str) or not value:
                raise InvalidLink(f"{name} is missing")
            values[name] = value
        if not _EPOCH.fullmatch(values["expires"]):
            raise InvalidLink("expires is malformed")
        claims = cls(approval_id, values["action"], int(values["expires"]), values["recipient"])
        return claims, _decode_signature(values["sig"])


def sign(kms: KMSClient, key_id: str, claims: LinkClaims) -> str:
    """The link's signature (unpadded base64url of the KMS HMAC)."""
    mac = kms.generate_mac(KeyId=key_id, MacAlgorithm=MAC_ALGORITHM, Message=claims.message())["Mac"]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def verify(kms: KMSClient, key_id: str, claims: LinkClaims, signature: bytes) -> bool:
    """Whether ``signature`` is the hub key's HMAC of ``claims`` (checked by KMS, in constant time)."""
    try:
        kms.verify_mac(KeyId=key_id, MacAlgorithm=MAC_ALGORITHM, Message=claims.message(), Mac=signature)
    except kms.exceptions.KMSInvalidMacException:
        return False
    return True


def url(api_url: str, claims: LinkClaims, signature: str) -> str:
    """The emailed link: it opens the confirmation page; nothing is decided until the page's button is pressed."""
    query = urlencode(
        {"action": claims.action, "expires": claims.expires, "recipient": claims.recipient, "sig": signature}
    )
    return f"{api_url.rstrip('/')}/approvals/{quote(claims.approval_id)}?{query}"


def _decode_signature(text: str) -> bytes:
    if not _SIGNATURE.fullmatch(text):
        raise InvalidLink("sig is malformed")
    try:
        return base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError):
        raise InvalidLink("sig is malformed") from None
