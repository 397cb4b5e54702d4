"""GitHub App authentication: the App's JWT and cached installation access tokens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jwt

from lightfast_pipeline.settings import GitHubSettings
from lightfast_pipeline.sources.base import SourceError

JWT_LIFETIME_SECONDS = 540  # GitHub refuses an App JWT whose exp is more than 10 minutes ahead
JWT_CLOCK_SKEW_SECONDS = 60  # iat in the past, so a server clock slightly behind still accepts it
TOKEN_REFRESH_MARGIN_SECONDS = 300  # renew an installation token this long before it expires


class GitHubAuthError(SourceError):
    """The App is not configured or GitHub refused its credentials."""


@dataclass(frozen=True)
class AppCredentials:
    """The App id and its PEM private key (never part of ``repr``)."""

    app_id: str
    private_key: str = field(repr=False)

    @classmethod
    def from_settings(cls, settings: GitHubSettings) -> AppCredentials:
        """Credentials from the environment; a clear error names what is missing."""
        if not settings.app_id:
            raise GitHubAuthError("GITHUB_APP_ID is not set: configure the GitHub App (see README)")
        key = settings.private_key
        if not key and settings.private_key_path:
            path = Path(settings.private_key_path).expanduser()
            try:
                key = path.read_text()
            except OSError as error:
                raise GitHubAuthError(f"cannot read GITHUB_APP_PRIVATE_KEY_PATH {path}: {error.strerror}") from None
        if not key:
            raise GitHubAuthError("set GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH (the App's PEM key)")
        # Keys pasted into .env files often carry literal "\n" sequences.
        return cls(app_id=settings.app_id, private_key=key.replace("\\n", "\n").strip() + "\n")


def app_jwt(credentials: AppCredentials, now: float | None = None) -> str:
    """An RS256 JWT identifying the App (iat 60 s in the past, exp 9 minutes ahead)."""
    issued = int(now if now is not None else time.time())
    payload = {
        "iat": issued - JWT_CLOCK_SKEW_SECONDS,
        "exp": issued + JWT_LIFETIME_SECONDS,
        "iss": str(credentials.app_id),
    }
    try:
        return jwt.encode(payload, credentials.private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as error:  # InvalidKeyError for text that is no PEM at all
        raise GitHubAuthError(f"GitHub App private key is not a valid RSA PEM key ({type(error).__name__})") from None


@dataclass
class _CachedToken:
    token: str = field(repr=False)
    expires_at: float


class InstallationTokens:
    """Installation access tokens, cached per installation until shortly before they expire (thread-safe)."""

    def __init__(
        self, *, refresh_margin: float = TOKEN_REFRESH_MARGIN_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._cache: dict[str, _CachedToken] = {}
        self._lock = threading.Lock()

    def get(self, installation_id: str, fetch: Callable[[], tuple[str, str]]) -> str:
        """A valid token; ``fetch()`` (returning token and ISO-8601 expiry) runs only when none is usable."""
        with self._lock:
            cached = self._cache.get(installation_id)
            if cached and cached.expires_at - self._refresh_margin > self._clock():
                return cached.token
            token, expires_at = fetch()
            expiry = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
            self._cache[installation_id] = _CachedToken(token=token, expires_at=expiry)
            return token

    def invalidate(self, installation_id: str) -> None:
        """Forget a token GitHub refused (revoked or expired early)."""
        with self._lock:
            self._cache.pop(installation_id, None)
