"""Bearer API keys: who the request acts as, its workspace, its role, its rate.

Authentication runs as ASGI middleware in front of ``/v1`` and ``/mcp``, before routing and body parsing, so a
request without a valid key answers 401 whatever else is wrong with it.
"""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from lightfast_pipeline.api.errors import ApiError, error_response
from lightfast_pipeline.api.limits import RateLimiter, retry_after
from lightfast_pipeline.keys.service import Principal, authenticate
from lightfast_pipeline.runtime import Runtime

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="lightfast"'}


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header (None when absent or of another scheme)."""
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def principal_for(runtime: Runtime, limiter: RateLimiter, authorization: str | None) -> Principal:
    """Authenticate a header and take one request from the key's rate (ApiError 401 / 429 otherwise)."""
    token = bearer_token(authorization)
    if token is None:
        raise ApiError(401, "missing API key: send Authorization: Bearer <key>", headers=CHALLENGE)
    with runtime.session() as session:
        principal = authenticate(session, token)
    if principal is None:
        raise ApiError(401, "invalid or revoked API key", headers=CHALLENGE)
    wait = limiter.acquire(principal.key_id)
    if wait is not None:
        raise ApiError(429, "rate limit exceeded for this API key", headers={"Retry-After": retry_after(wait)})
    return principal


class KeyAuth:
    """Puts the request's :class:`Principal` in ``scope["state"]``, or answers 401/429 itself."""

    def __init__(self, app: ASGIApp, runtime: Runtime, limiter: RateLimiter) -> None:
        self.app = app
        self.runtime = runtime
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/v1" or path.startswith(("/v1/", "/mcp"))):
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope.get("headers") or []}
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        try:
            principal = await run_in_threadpool(principal_for, self.runtime, self.limiter, authorization)
        except ApiError as error:
            response = error_response(error.status, error.code, error.message, error.headers)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated key of this request (set by :class:`KeyAuth`)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:  # a route outside the protected prefixes asked for a key: a programming error
        raise ApiError(401, "missing API key", headers=CHALLENGE)
    return principal


def admin_principal(principal: Principal = Depends(current_principal)) -> Principal:
    """FastAPI dependency: an admin key (403 for a read key)."""
    if not principal.can_mutate:
        raise ApiError(403, "this API key has the read role; the request needs an admin key")
    return principal


def runtime_of(request: Request) -> Runtime:
    """FastAPI dependency: the process Runtime."""
    return request.app.state.runtime
