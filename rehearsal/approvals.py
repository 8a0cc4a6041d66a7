"""Approval links as an approver meets them: API Gateway proxy events for the approval API, links from emails."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

from handlers import approval_decision, approval_page
from rehearsal.hub import FakeLambdaContext

STAGE = "v1"
_LINK = re.compile(r"^(Approve|Reject):\s+(\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Link:
    """A link from an approval email, split into the parts an attacker might change."""

    approval_id: str
    fields: dict[str, str]

    @classmethod
    def parse(cls, url: str) -> Link:
        parts = urlsplit(url)
        approval_id = parts.path.rsplit("/", 1)[1]
        return cls(approval_id, dict(parse_qsl(parts.query)))

    def with_fields(self, **changes: str) -> Link:
        return Link(self.approval_id, {**self.fields, **changes})

    def with_id(self, approval_id: str) -> Link:
        return Link(approval_id, self.fields)


def links(message: str) -> dict[str, Link]:
    """``{"approve": Link, "reject": Link}`` from an approval email."""
    return {action.lower(): Link.parse(url) for action, url in _LINK.findall(message)}


def api_event(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: str | None = None,
    source_ip: str = "203.0.113.7",
    user_agent: str = "Mozilla/5.0 (approval test)",
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST (Lambda proxy) event, as the approval API's stage delivers it."""
    approval_id = path.rsplit("/", 1)[-1]
    encoded = base64.b64encode(body.encode()).decode() if body is not None and base64_body else body
    headers = {"User-Agent": user_agent, "Host": "approvals.example.test"}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return {
        "resource": "/approvals/{id}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"id": approval_id},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/approvals/{id}",
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "requestId": "request-id",
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
        },
        "body": encoded,
        "isBase64Encoded": base64_body,
    }


def headers(response: dict[str, Any]) -> dict[str, str]:
    """A proxy response's headers (Powertools answers REST APIs with ``multiValueHeaders``)."""
    return {name: values[0] for name, values in response.get("multiValueHeaders", {}).items()}


class Api(Protocol):
    """What serves the approval API: a rehearsal (``Rehearsal.invoke``) or the handlers called directly."""

    def invoke(self, spec_name: str, event: dict[str, Any]) -> dict[str, Any]: ...


class DirectApi:
    """The approval handlers called directly (handler tests without a rehearsal)."""

    def invoke(self, spec_name: str, event: dict[str, Any]) -> dict[str, Any]:
        module = {"ApprovalPage": approval_page, "ApprovalDecision": approval_decision}[spec_name]
        return dict(module.lambda_handler(event, FakeLambdaContext(spec_name)))


def open_link(api: Api, link: Link, **identity: Any) -> dict[str, Any]:
    """GET the link (what a mail scanner or a person opening it does)."""
    return api.invoke("ApprovalPage", api_event("GET", f"/approvals/{link.approval_id}", query=link.fields, **identity))


def confirm(api: Api, link: Link, **identity: Any) -> dict[str, Any]:
    """POST the link's fields, as the confirmation page's button does."""
    event = api_event("POST", f"/approvals/{link.approval_id}", body=urlencode(link.fields), **identity)
    return api.invoke("ApprovalDecision", event)
