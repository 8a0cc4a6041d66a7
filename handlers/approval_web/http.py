"""The approval API's HTTP side: API Gateway (REST, Lambda proxy) requests in, HTML pages out.

Routing is Powertools' ``APIGatewayRestResolver``; each of the two functions serves one route. The entry point
never logs the request (its query string and body carry link signatures), answers any unexpected error with a
page that says nothing was recorded, and keeps the environment and clients per container like every handler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from handlers.approval_web import links, views
from handlers.approval_web.links import InvalidLink, LinkClaims
from handlers.approval_web.views import CONTENT_TYPE, HEADERS, NOT_FOUND, SERVER_ERROR, Page
from handlers.contract.environment import ApprovalLinkEnv
from handlers.records.repository import RunTable
from handlers.runtime import entry
from handlers.runtime.clients import HubClients
from handlers.runtime.entry import Handle, LambdaHandler
from handlers.runtime.observability import logger, metrics

ApprovalRoute = Callable[["Request"], Page]
E = TypeVar("E", bound=ApprovalLinkEnv)
MAX_FORM_BYTES = 4096


@dataclass(frozen=True)
class Request:
    """What a route needs from an API Gateway request, read at the edge."""

    approval_id: str
    fields: Mapping[str, str]  # query string (GET) or form fields (POST), first value of each
    source_ip: str
    user_agent: str
    env: ApprovalLinkEnv
    clients: HubClients
    now: datetime

    @property
    def runs(self) -> RunTable:
        return RunTable(self.clients.dynamodb(), self.env.table_name)


@dataclass(frozen=True)
class VerifiedLink:
    """A link that is well formed, signed by the hub's key and not expired."""

    claims: LinkClaims
    signature: str  # as received, for the confirmation page's form


def verified_link(request: Request) -> VerifiedLink | Page:
    """The request's link if the hub signed it and it has not expired; otherwise the page that says why."""
    try:
        claims, mac = LinkClaims.parse(request.approval_id, request.fields)
    except InvalidLink as problem:
        logger.info("malformed approval link", extra={"reason": str(problem)})
        return views.BAD_REQUEST
    if not links.verify(request.clients.kms(), request.env.approval_key_arn, claims, mac):
        logger.warning("approval link with a bad signature", extra={"approvalId": claims.approval_id})
        metrics.add_metric(name="ApprovalLinksRefused", unit=MetricUnit.Count, value=1)
        return views.INVALID_LINK
    if claims.expires <= request.now.timestamp():
        return views.expired_page()
    return VerifiedLink(claims, request.fields["sig"])


def respond(page: Page) -> Response[str]:
    return Response(status_code=page.status, content_type=CONTENT_TYPE, body=page.render(), headers=HEADERS)


def route(method: str, page: ApprovalRoute, *, form: bool) -> Handle[ApprovalLinkEnv, HubClients]:
    """``handle(event, *, env, clients, now)`` for ``method /approvals/{id}``: fields from the form if ``form``,
    else from the query string; any other path or method is a 404 page."""

    def handle(event: dict[str, Any], *, env: ApprovalLinkEnv, clients: HubClients, now: datetime) -> dict[str, Any]:
        app = APIGatewayRestResolver()

        def approval(approval_id: str) -> Response[str]:
            current = app.current_event
            fields = _form_fields(current.decoded_body or "") if form else dict(current.query_string_parameters or {})
            identity = current.request_context.identity
            return respond(
                page(
                    Request(
                        approval_id=approval_id,
                        fields=fields,
                        source_ip=identity.source_ip or "",
                        user_agent=identity.user_agent or "",
                        env=env,
                        clients=clients,
                        now=now,
                    )
                )
            )

        app.route("/approvals/<approval_id>", method)(approval)
        app.not_found(lambda _error: respond(NOT_FOUND))
        response: dict[str, Any] = app.resolve(event, None)  # type: ignore[arg-type]
        # Answers by class (2xx, 4xx, ...): a burst of 4xx is someone trying links that are not theirs.
        metrics.add_metric(name=f"ApprovalApi{response['statusCode'] // 100}xx", unit=MetricUnit.Count, value=1)
        return response

    return handle


def entry_point(handle: Handle[E, HubClients], env_type: type[E]) -> LambdaHandler[E, HubClients]:
    """The ``lambda_handler`` for an approval route's ``handle``: an unexpected error is a page, never a trace."""
    return entry.entry_point(
        handle, env_type, correlation_id_path=correlation_paths.API_GATEWAY_REST, answer_error=_server_error
    )


def _server_error(error: Exception) -> dict[str, Any]:
    # The error's type only: messages of SDK errors may quote request parameters.
    logger.error("request failed", extra={"errorType": type(error).__name__})
    headers = {**HEADERS, "Content-Type": CONTENT_TYPE}
    return {
        "statusCode": SERVER_ERROR.status,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "body": SERVER_ERROR.render(),
        "isBase64Encoded": False,
    }


def _form_fields(body: str) -> dict[str, str]:
    if len(body) > MAX_FORM_BYTES:
        return {}
    return {name: values[0] for name, values in parse_qs(body, keep_blank_values=False).items()}
