"""The outermost middleware: API-key check, response headers, privacy-safe request log.

Pure ASGI (no per-request task or body copy), so it adds microseconds, not milliseconds.
"""

from __future__ import annotations

import hmac
import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cardioclarity import DISCLAIMER
from cardioclarity.serve.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

__all__ = ["DISCLAIMER_HEADER", "EdgeMiddleware"]

log = logging.getLogger("cardioclarity.serve.access")

#: Response header carrying the research-use disclaimer on every response.
DISCLAIMER_HEADER = "X-CardioClarity-Disclaimer"

# The web page loads only its own files; images are data: or blob: URLs made by the page itself.
_PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
             "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class EdgeMiddleware:
    """API-key authentication for ``/v1/*``, disclaimer and security headers, access log.

    Parameters
    ----------
    app : ASGI app
    api_key : str or None
        Required value of the ``header`` on ``/v1/*`` requests; ``None`` disables the check.
    header : str
        Name of the API-key header.
    log_requests : bool
        Log one line per request: method, path (no query string), status, body size, duration.
        Never the body, file names, or anything read from it.
    """

    def __init__(self, app: ASGIApp, api_key: str | None, header: str = "X-API-Key",
                 log_requests: bool = True) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.header = header.lower().encode("latin-1")
        self.header_name = header
        self.log_requests = log_requests

    def _authorised(self, scope: Scope) -> bool:
        for key, value in scope.get("headers", ()):
            if key == self.header:
                return hmac.compare_digest(value, self.api_key)
        return False

    async def _unauthorised(self, scope: Scope, send: Send, status_box: list) -> None:
        status_box[0] = 401
        body = json.dumps({
            "type": PROBLEM_BASE + "unauthorized", "title": "Unauthorized", "status": 401,
            "detail": f"This server requires an API key in the {self.header_name} header; the "
                      "request had none or a wrong one.",
            "hint": f"send the header '{self.header_name}: <key>' (ask the operator for the key).",
            "instance": scope.get("path", ""), "disclaimer": DISCLAIMER}).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", f'ApiKey header="{self.header_name}"'.encode("latin-1"))]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        t0 = time.perf_counter()
        status_box = [0]
        size_in = 0

        async def counting_receive() -> Message:
            nonlocal size_in
            message = await receive()
            size_in += len(message.get("body", b""))
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((DISCLAIMER_HEADER.lower().encode(), DISCLAIMER.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                if path.startswith("/v1/"):
                    # Results describe a patient's data: no cache may keep them.
                    headers.append((b"cache-control", b"no-store"))
                elif path == "/" or path.startswith("/static/"):
                    headers.append((b"content-security-policy", _PAGE_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if (self.api_key is not None and path.startswith("/v1/")
                    and scope.get("method") != "OPTIONS" and not self._authorised(scope)):
                await self._unauthorised(scope, send_with_headers, status_box)
            else:
                await self.app(scope, counting_receive, send_with_headers)
        finally:
            if self.log_requests:
                log.info("%s %s %d in=%dB %.1fms", scope.get("method"), path, status_box[0],
                         size_in, 1000 * (time.perf_counter() - t0))
