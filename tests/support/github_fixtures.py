"""Test helpers for GitHub: an App key pair, git repositories built by the test, signed webhook deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import FIXTURES
from tests.support.github_server import GitHubServer
from tests.support.gitrepo import GitRepo as BaseGitRepo

WEBHOOKS = FIXTURES / "github-webhooks"
APP_ID = "424242"
WEBHOOK_SECRET = "test-webhook-secret"


@cache
def app_key_pair() -> tuple[str, str]:
    """A 2048-bit RSA key pair (private PEM, public PEM) for the test App, made once per process."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class GitRepo(BaseGitRepo):
    """The shared test repository, with commits that write and remove files in one call."""

    def commit(  # type: ignore[override]
        self, files: dict[str, str | bytes] | None = None, *, remove: tuple[str, ...] = (), message: str = "c"
    ) -> str:
        """Write/remove files, commit everything, return the new commit sha."""
        for rel, content in (files or {}).items():
            self.write(rel, content)
        for rel in remove:
            self.remove(rel)
        return super().commit(message)

    def move(self, old: str, new: str, message: str = "move") -> str:  # type: ignore[override]
        """Rename a file (same blob) and commit."""
        super().move(old, new)
        return super().commit(message)


@dataclass
class GitHubApp:
    """The test App: its running server and the environment that points the code at it."""

    server: GitHubServer
    private_key: str = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables configuring the App (as in production)."""
        return {
            "GITHUB_APP_ID": APP_ID,
            "GITHUB_APP_PRIVATE_KEY": self.private_key,
            "GITHUB_API_URL": self.server.url,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }


@pytest.fixture
def github_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubApp]:
    """A running local GitHub with the test App configured in the environment."""
    private, public = app_key_pair()
    server = GitHubServer(app_id=APP_ID, public_key_pem=public).start()
    app = GitHubApp(server=server, private_key=private)
    for name, value in app.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITHUB_APP_PRIVATE_KEY_PATH", raising=False)
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET_PREVIOUS", raising=False)
    try:
        yield app
    finally:
        server.stop()


def load_webhook(name: str) -> dict[str, Any]:
    """A real payload from ``FIXTURES/github-webhooks`` (the body only)."""
    return json.loads((WEBHOOKS / name).read_text())


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """The ``X-Hub-Signature-256`` header value GitHub would send."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(
    event: str, body: bytes, *, delivery_id: str | None = None, secret: str = WEBHOOK_SECRET
) -> dict[str, str]:
    """Headers of a signed delivery."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
    }


def encode(payload: dict[str, Any]) -> bytes:
    """Serialise a payload compactly, as GitHub sends it."""
    return json.dumps(payload, separators=(",", ":")).encode()


def retarget(
    payload: dict[str, Any], *, repo_id: int, full_name: str, installation_id: int | None = 1
) -> dict[str, Any]:
    """Point a real payload's repository (and installation) at the test repository: ids and names only."""
    payload = json.loads(json.dumps(payload))
    repo = payload.get("repository")
    if isinstance(repo, dict):
        owner, name = full_name.split("/")
        repo.update(id=repo_id, full_name=full_name, name=name)
        if isinstance(repo.get("owner"), dict):
            repo["owner"]["login"] = owner
            repo["owner"]["name"] = owner
    if installation_id is not None and "installation" in payload:
        payload["installation"]["id"] = installation_id
    return payload
