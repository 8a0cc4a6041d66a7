"""The approval API on 127.0.0.1 for a real browser: HTTP in, API Gateway (REST proxy) events to the handlers.

What API Gateway would do and nothing more: ``GET`` and ``POST /<stage>/approvals/{id}`` become proxy events for
ApprovalPage and ApprovalDecision (through a rehearsal, so their AWS calls land in moto and are recorded), with
the caller's address and user agent in the request context; any other path is API Gateway's own 403.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from rehearsal.approvals import STAGE, Api, api_event

ROUTES = {"GET": "ApprovalPage", "POST": "ApprovalDecision"}
MAX_BODY = 64 * 1024


@contextmanager
def serving(api: Api) -> Iterator[str]:
    """Serve ``api`` on an ephemeral port; yields the stage's base URL (``http://127.0.0.1:<port>/v1``)."""
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="approval-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{STAGE}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    api: Api

    def do_GET(self) -> None:
        self._proxy("GET")

    def do_POST(self) -> None:
        self._proxy("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request line would print link signatures into the test output."""

    def _proxy(self, method: str) -> None:
        parts = urlsplit(self.path)
        prefix = f"/{STAGE}/approvals/"
        if not parts.path.startswith(prefix) or "/" in parts.path[len(prefix) :]:
            self._answer(403, {"Content-Type": "application/json"}, b'{"message":"Missing Authentication Token"}')
            return
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        body = self.rfile.read(length).decode() if length else None
        event = api_event(
            method,
            parts.path.removeprefix(f"/{STAGE}"),
            query=dict(parse_qsl(parts.query)) or None,
            body=body,
            source_ip=self.client_address[0],
            user_agent=self.headers.get("User-Agent", ""),
        )
        response = self.api.invoke(ROUTES[method], event)
        headers = {name: values[0] for name, values in response.get("multiValueHeaders", {}).items()}
        headers.update(response.get("headers") or {})
        payload = response.get("body") or ""
        content = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        self._answer(int(response["statusCode"]), headers, content)

    def _answer(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)
