"""REST client for the GitHub API: App/installation auth, retries, rate limits, redirects, call counting."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from lightfast_pipeline.sources.base import RetryableSourceError, SourceError
from lightfast_pipeline.sources.github.auth import (
    AppCredentials,
    GitHubAuthError,
    InstallationTokens,
    app_jwt,
)

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
USER_AGENT = "lightfast-pipeline"


class GitHubAPIError(SourceError):
    """GitHub answered a request with a client error (the message names the request, never a credential)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class GitHubNotFoundError(GitHubAPIError):
    """404: the repository, ref, tree or file does not exist (or the App cannot see it)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a client tries before failing the step."""

    max_attempts: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0
    max_rate_limit_wait: float = 60.0  # longer waits fail the step with a RetryableSourceError
    timeout_seconds: float = 30.0
    secondary_limit_seconds: float = 60.0  # first wait on a secondary limit that names no time (GitHub: ≥ 1 min)

    def backoff(self, attempt: int) -> float:
        """Exponential delay before retry number ``attempt`` (1-based)."""
        return min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))

    def secondary_limit_wait(self, hit: int) -> float:
        """Wait after the ``hit``-th (1-based) secondary limit of one request that sent neither ``retry-after`` nor
        an exhausted ``x-ratelimit-reset``: one minute, then exponentially longer, as GitHub's docs ask."""
        return self.secondary_limit_seconds * 2 ** (hit - 1)


class GitHubClient:
    """Calls the REST API as one App installation (or as the App itself when ``installation_id`` is None)."""

    def __init__(
        self,
        api_url: str,
        *,
        credentials: AppCredentials | None = None,
        installation_id: str | None = None,
        tokens: InstallationTokens | None = None,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.credentials = credentials
        self.installation_id = installation_id
        self.tokens = tokens or InstallationTokens(clock=clock)
        self.policy = policy or RetryPolicy()
        self._session = session or requests.Session()
        self._session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": USER_AGENT,
            }
        )
        self._sleep = sleep
        self._clock = clock
        self._calls = 0
        self._calls_lock = threading.Lock()

    @property
    def api_calls(self) -> int:
        """HTTP requests sent by this client (retries, redirects and token requests included)."""
        return self._calls

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` (relative to the API URL) and decode its JSON body."""
        response = self.request("GET", path, params=params)
        try:
            return response.json()
        except ValueError:
            raise GitHubAPIError(
                f"GitHub answered GET {path} with a body that is not JSON", response.status_code
            ) from None

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> requests.Response:
        """One API call with installation (or App) auth; refused tokens are renewed once."""
        try:
            return self._send(method, path, self._auth_headers, params=params, json=json)
        except GitHubAPIError as error:
            if error.status != 401 or self.installation_id is None:
                raise
            self.tokens.invalidate(self.installation_id)
            return self._send(method, path, self._auth_headers, params=params, json=json)

    def _auth_headers(self) -> dict[str, str]:
        if self.credentials is None:
            return {}
        if self.installation_id is None:
            return {"Authorization": f"Bearer {app_jwt(self.credentials, self._clock())}"}
        token = self.tokens.get(self.installation_id, self._create_installation_token)
        return {"Authorization": f"Bearer {token}"}

    def _create_installation_token(self) -> tuple[str, str]:
        assert self.credentials is not None and self.installation_id is not None
        jwt_header = {"Authorization": f"Bearer {app_jwt(self.credentials, self._clock())}"}
        try:
            response = self._send(
                "POST", f"/app/installations/{self.installation_id}/access_tokens", lambda: jwt_header
            )
        except GitHubAPIError as error:
            raise GitHubAuthError(
                f"GitHub refused an access token for installation {self.installation_id} "
                f"(HTTP {error.status}): "
                "check GITHUB_APP_ID, the private key and that the App is installed"
            ) from None
        body = response.json()
        return body["token"], body["expires_at"]

    def _count(self, calls: int) -> None:
        with self._calls_lock:
            self._calls += calls

    def _send(
        self,
        method: str,
        path: str,
        headers: Callable[[], dict[str, str]],
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> requests.Response:
        url = path if path.startswith(("http://", "https://")) else f"{self.api_url}{path}"
        where = f"{method} {urlsplit(url).path}"
        attempt = limited = 0
        while True:
            attempt += 1
            try:
                # requests follows 301/307 (rename, transfer) and keeps Authorization on the same host.
                response = self._session.request(
                    method,
                    url,
                    headers=headers(),
                    params=params,
                    json=json,
                    timeout=self.policy.timeout_seconds,
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                self._count(1)
                if attempt >= self.policy.max_attempts:
                    raise RetryableSourceError(
                        f"GitHub API at {urlsplit(url).netloc} unreachable ({type(error).__name__}) "
                        f"after {attempt} attempts: {where}"
                    ) from None
                self._retry_later(where, type(error).__name__, self.policy.backoff(attempt))
                continue
            self._count(1 + len(response.history))
            status = response.status_code
            if status >= 500:
                if attempt >= self.policy.max_attempts:
                    raise RetryableSourceError(
                        f"GitHub API answered {status} ({_error_message(response) or 'no reason'}) "
                        f"after {attempt} attempts: {where}"
                    )
                self._retry_later(where, str(status), self.policy.backoff(attempt))
                continue
            if status in (403, 429):
                limited += 1
                wait = self._rate_limit_wait(response, limited)
                if wait is not None:
                    if wait > self.policy.max_rate_limit_wait or attempt >= self.policy.max_attempts:
                        raise RetryableSourceError(self._rate_limit_message(response, wait))
                    self._retry_later(where, f"{status} rate limited", wait)
                    continue
            if status >= 400:
                message = _error_message(response)
                error_type = GitHubNotFoundError if status == 404 else GitHubAPIError
                raise error_type(f"GitHub answered {status} to {where}: {message}", status)
            return response

    def _retry_later(self, where: str, why: str, seconds: float) -> None:
        log.warning("GitHub %s: %s, retrying in %.1f s", where, why, seconds)
        self._sleep(seconds)

    def _rate_limit_wait(self, response: requests.Response, hit: int) -> float | None:
        """Seconds to wait before retrying, or None when the 403/429 is not a rate limit (``hit``: how many rate
        limits this request met, counting this one)."""
        headers = response.headers
        retry_after = headers.get("retry-after")
        if retry_after and retry_after.strip().isdigit():
            return float(retry_after)
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
            return max(0.0, int(headers["x-ratelimit-reset"]) - self._clock()) + 0.25
        if response.status_code == 429 or "secondary rate limit" in _error_message(response).lower():
            return self.policy.secondary_limit_wait(hit)
        return None

    def _rate_limit_message(self, response: requests.Response, wait: float) -> str:
        if response.headers.get("x-ratelimit-remaining") == "0" and not response.headers.get("retry-after"):
            reset = datetime.fromtimestamp(int(response.headers["x-ratelimit-reset"]), UTC).isoformat()
            return (
                f"GitHub API rate limit exhausted until {reset} ({wait:.0f} s; this step waits at most "
                f"{self.policy.max_rate_limit_wait:.0f} s): retry the run after the reset"
            )
        return (
            f"GitHub secondary rate limit: retry after {wait:.0f} s (this step waits at most "
            f"{self.policy.max_rate_limit_wait:.0f} s)"
        )


def _error_message(response: requests.Response) -> str:
    """GitHub's JSON ``message``, or the HTTP reason when the body is not JSON (a proxy's HTML page)."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    return " ".join(str(body.get("message", "")).split()) if isinstance(body, dict) else ""
