"""Security headers of console responses: a Content-Security-Policy without inline or foreign scripts."""

from __future__ import annotations

import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIXES = ("/v1", "/mcp", "/docs", "/redoc", "/openapi.json", "/healthz")
NONCE_KEY = "csp_nonce"


def policy(nonce: str | None) -> str:
    """The console's CSP; the nonce admits the `<style>` elements of server-rendered charts only."""
    styles = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    return (
        "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
        f"style-src {styles}; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


class SecurityHeaders:
    """Adds CSP, no-sniff, no-referrer, no-framing and ``Server-Timing: app`` (the server's time until the
    response starts) to every response outside the API's paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return

        began = time.perf_counter()
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})[NONCE_KEY] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy(nonce)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                headers.append("Server-Timing", f"app;dur={(time.perf_counter() - began) * 1000:.1f}")
            await send(message)

        await self.app(scope, receive, send_with_headers)
