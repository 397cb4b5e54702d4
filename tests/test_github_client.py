"""The GitHub App client and GitHubSource against the local GitHub server serving a real git repository."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import jwt
import pytest

from lightfast_pipeline.settings import load_github_settings
from lightfast_pipeline.sources.base import RetryableSourceError, Source, SourceError
from lightfast_pipeline.sources.github import (
    AppCredentials,
    GitHubAuthError,
    GitHubClient,
    GitHubSource,
    InstallationTokens,
    RetryPolicy,
    app_jwt,
    github_client,
    github_source,
)
from tests.support.github_fixtures import APP_ID, GitHubApp, GitRepo, app_key_pair

REPO_ID = 5150
FULL_NAME = "acme/docs"


@pytest.fixture
def repo(tmp_path: Path, github_app: GitHubApp) -> GitRepo:
    """A repository with nested folders, an executable and a symlink, published on the local GitHub."""
    git_repo = GitRepo(tmp_path / "docs-repo")
    git_repo.commit(
        {
            "README.md": "# Docs\n\nHello.\n",
            "guide/intro.md": "# Intro\n\nStart here.\n",
            "guide/deep/nested/page.md": "# Deep\n\nA page.\n",
            "api/a.md": "# A\n",
            "api/b.md": "# B\n",
            "tools/run.sh": "#!/bin/sh\necho hi\n",
            "big.md": "x" * 5000,
        }
    )
    (git_repo.path / "tools/run.sh").chmod(0o755)
    (git_repo.path / "link.md").symlink_to("README.md")
    git_repo.commit(message="exec bit and symlink")
    github_app.server.add_repository(FULL_NAME, git_repo.path, repo_id=REPO_ID, installation_id=7)
    return git_repo


def git_tree(repo: GitRepo) -> set[tuple[str, str, int, str]]:
    """(path, blob, size, mode) of every file at HEAD, straight from git."""
    out = repo.git("ls-tree", "-r", "-l", "HEAD")
    entries = set()
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        mode, _kind, sha, size = meta.split()
        entries.add((path, sha, int(size), mode))
    return entries


def make_source(sleeps: list[float] | None = None, **policy: float) -> GitHubSource:
    """A source on the test repository whose sleeps are recorded (and actually slept)."""
    github = load_github_settings()

    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        time.sleep(min(seconds, 2.0))

    client = GitHubClient(
        github.api_url,
        credentials=AppCredentials.from_settings(github),
        installation_id="7",
        policy=RetryPolicy(backoff_seconds=0.01, **policy),
        sleep=sleep,
    )
    return GitHubSource(client, FULL_NAME)


def test_app_jwt_is_rs256_with_skewed_iat_and_short_expiry() -> None:
    private, public = app_key_pair()
    now = time.time()
    token = app_jwt(AppCredentials(app_id=APP_ID, private_key=private), now)
    claims = jwt.decode(token, public, algorithms=["RS256"], options={"verify_iat": False})
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert claims["iss"] == APP_ID
    assert claims["iat"] == int(now) - 60
    assert 0 < claims["exp"] - now <= 600


def test_source_reads_the_repository_like_git(repo: GitRepo, github_app: GitHubApp) -> None:
    source = github_source(load_github_settings(), FULL_NAME, installation_id="7")
    assert isinstance(source, Source)
    info = source.repository_info()
    assert (info.source_id, info.full_name, info.default_branch, info.archived) == (
        str(REPO_ID),
        FULL_NAME,
        "main",
        False,
    )
    head = source.head_commit()
    assert head == repo.head()

    entries = source.tree(head)
    assert {(e.path, e.blob_id, e.size, e.mode) for e in entries} == git_tree(repo)
    assert next(e for e in entries if e.path == "link.md").is_symlink
    assert next(e for e in entries if e.path == "tools/run.sh").mode == "100755"

    by_path = {e.path: e.blob_id for e in entries}
    blobs = dict(source.read_blobs([by_path["README.md"], by_path["guide/deep/nested/page.md"], by_path["big.md"]]))
    assert blobs[by_path["README.md"]] == b"# Docs\n\nHello.\n"
    assert blobs[by_path["big.md"]] == b"x" * 5000
    small_only = dict(source.read_blobs([by_path["README.md"], by_path["big.md"]], max_bytes=1000))
    assert list(small_only) == [by_path["README.md"]]

    assert source.read_file(head, "guide/intro.md") == b"# Intro\n\nStart here.\n"
    assert source.read_file(head, "lightfast.yml") is None
    with pytest.raises(IsADirectoryError):  # a folder is never "no file" (a config folder must not read as absent)
        source.read_file(head, "guide")
    assert source.api_calls == len(github_app.server.requests)


def test_installation_token_is_cached_shared_and_renewed(repo: GitRepo, github_app: GitHubApp) -> None:
    github = load_github_settings()
    first, second = github_client(github, "7"), github_client(github, "7")
    for client in (first, second, first):
        client.get_json(f"/repos/{FULL_NAME}")
    assert github_app.server.tokens_issued == 1  # one token for the process, until shortly before expiry

    now = [time.time()]
    tokens = InstallationTokens(clock=lambda: now[0])
    client = GitHubClient(
        github.api_url, credentials=AppCredentials.from_settings(github), installation_id="7", tokens=tokens
    )
    client.get_json(f"/repos/{FULL_NAME}")
    now[0] += 3600 - 299  # inside the refresh margin of a one-hour token
    client.get_json(f"/repos/{FULL_NAME}")
    assert github_app.server.tokens_issued == 3

    github_app.server._tokens.clear()  # GitHub revoked every token: the client renews once and succeeds
    assert client.get_json(f"/repos/{FULL_NAME}")["id"] == REPO_ID
    assert github_app.server.tokens_issued == 4


def test_5xx_burst_is_retried_with_backoff_then_fails_retryable(repo: GitRepo, github_app: GitHubApp) -> None:
    sleeps: list[float] = []
    source = make_source(sleeps)
    source.repository_info()  # token fetched
    calls = source.api_calls
    github_app.server.fail_next(3, status=502)
    assert source.head_commit("main") == repo.head()
    assert source.api_calls == calls + 4
    assert sleeps == [0.01, 0.02, 0.04]

    github_app.server.fail_next(50, status=503)
    with pytest.raises(RetryableSourceError, match=r"503 \(Server Error\) after 5 attempts"):
        source.head_commit("main")


@pytest.mark.parametrize("status", [502, 503])
def test_a_proxys_html_error_page_is_retried_then_one_clear_line(
    repo: GitRepo, github_app: GitHubApp, status: int
) -> None:
    sleeps: list[float] = []
    source = make_source(sleeps)
    source.repository_info()
    github_app.server.fail_next(2, status=status, html=True)
    assert source.head_commit("main") == repo.head()
    assert sleeps == [0.01, 0.02]

    github_app.server.fail_next(50, status=status, html=True)
    with pytest.raises(RetryableSourceError) as error:
        source.head_commit("main")
    reason = {502: "Bad Gateway", 503: "Service Unavailable"}[status]
    assert str(error.value) == (
        f"GitHub API answered {status} ({reason}) after 5 attempts: GET /repos/{FULL_NAME}/git/ref/heads/main"
    )


def test_connection_errors_are_retried_then_retryable() -> None:
    private, _ = app_key_pair()
    sleeps: list[float] = []
    client = GitHubClient(
        "http://127.0.0.1:9",  # discard port: nothing listens
        credentials=AppCredentials(app_id=APP_ID, private_key=private),
        policy=RetryPolicy(max_attempts=3, backoff_seconds=0.01),
        sleep=sleeps.append,
    )
    with pytest.raises(RetryableSourceError, match="unreachable"):
        client.get_json("/app")
    assert client.api_calls == 3 and len(sleeps) == 2


def test_primary_rate_limit_waits_until_reset_when_short(repo: GitRepo, github_app: GitHubApp) -> None:
    sleeps: list[float] = []
    source = make_source(sleeps)
    source.repository_info()
    github_app.server.primary_rate_limit(0.5)
    started = time.monotonic()
    assert source.head_commit("main") == repo.head()
    assert time.monotonic() - started >= 0.4
    assert len(sleeps) >= 1 and all(s <= 2.5 for s in sleeps)


def test_primary_rate_limit_far_away_fails_the_step_with_a_clear_retryable_error(
    repo: GitRepo, github_app: GitHubApp
) -> None:
    sleeps: list[float] = []
    source = make_source(sleeps, max_rate_limit_wait=60)
    source.repository_info()
    github_app.server.primary_rate_limit(3600)
    with pytest.raises(RetryableSourceError, match=r"rate limit exhausted until .* retry the run") as error:
        source.head_commit("main")
    assert sleeps == []
    assert "ghs_" not in str(error.value)


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_honours_retry_after(repo: GitRepo, github_app: GitHubApp, status: int) -> None:
    sleeps: list[float] = []
    source = make_source(sleeps)
    source.repository_info()
    github_app.server.secondary_rate_limit(count=2, retry_after=1, status=status)
    assert source.head_commit("main") == repo.head()
    assert sleeps == [1.0, 1.0]


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_without_retry_after_waits_a_minute_then_exponentially_longer(
    repo: GitRepo, github_app: GitHubApp, status: int
) -> None:
    """GitHub does not always send ``retry-after``: its docs ask for at least one minute, then exponentially
    longer. The minute is the policy's ``secondary_limit_seconds`` (shortened here to keep the test fast)."""
    sleeps: list[float] = []
    source = make_source(sleeps, secondary_limit_seconds=0.05, max_rate_limit_wait=1.0)
    source.repository_info()
    github_app.server.secondary_rate_limit(count=3, retry_after=None, status=status)
    assert source.head_commit("main") == repo.head()
    assert sleeps == [0.05, 0.1, 0.2]
    assert RetryPolicy().secondary_limit_wait(1) == 60.0  # the production default: the documented minute

    sleeps.clear()
    github_app.server.secondary_rate_limit(count=50, retry_after=None, status=status)
    with pytest.raises(RetryableSourceError) as error:
        source.head_commit("main")
    assert sleeps == [0.05, 0.1, 0.2, 0.4]  # the fifth wait (0.8 s) is the last attempt's: it fails instead
    assert str(error.value) == "GitHub secondary rate limit: retry after 1 s (this step waits at most 1 s)"


def test_truncated_tree_is_walked_so_nothing_is_missed(repo: GitRepo, github_app: GitHubApp) -> None:
    github_app.server.switches.truncate_trees_over = 3
    source = make_source()
    entries = source.tree(repo.head())
    assert {(e.path, e.blob_id, e.size, e.mode) for e in entries} == git_tree(repo)
    tree_calls = [p for p in github_app.server.paths() if "/git/trees/" in p]
    assert len(tree_calls) > 2  # the recursive listing was truncated, so subtrees were listed


def test_renamed_repository_is_followed_with_auth(repo: GitRepo, github_app: GitHubApp) -> None:
    source = make_source()
    github_app.server.rename(FULL_NAME, "acme/handbook")
    assert source.repository_info().full_name == "acme/handbook"
    head = source.head_commit()
    assert source.read_file(head, "README.md") == b"# Docs\n\nHello.\n"
    assert len(source.tree(head)) == len(git_tree(repo))
    assert any(p.startswith(f"/repositories/{REPO_ID}/git/trees/") for p in github_app.server.paths())


def test_wrong_key_is_a_clear_auth_error_without_secrets(
    repo: GitRepo, github_app: GitHubApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", other.decode().replace("\n", "\\n"))  # as pasted in a .env file
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GitHubAuthError, match="refused an access token for installation 7") as error:
        github_source(load_github_settings(), FULL_NAME, installation_id="7").repository_info()
    assert "PRIVATE KEY" not in str(error.value) and "PRIVATE KEY" not in caplog.text
    assert github_app.server.tokens_issued == 0


def test_missing_configuration_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GITHUB_APP_ID", raising=False)
    with pytest.raises(GitHubAuthError, match="GITHUB_APP_ID"):
        AppCredentials.from_settings(load_github_settings())
    monkeypatch.setenv("GITHUB_APP_ID", "1")
    monkeypatch.delenv("GITHUB_APP_PRIVATE_KEY", raising=False)
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY_PATH", str(tmp_path / "missing.pem"))
    with pytest.raises(GitHubAuthError, match="cannot read GITHUB_APP_PRIVATE_KEY_PATH"):
        AppCredentials.from_settings(load_github_settings())
    assert "secret" not in repr(load_github_settings())


def test_missing_branch_and_repository_are_source_errors(repo: GitRepo, github_app: GitHubApp) -> None:
    source = make_source()
    with pytest.raises(SourceError, match="branch 'nope' not found"):
        source.head_commit("nope")
    with pytest.raises(SourceError, match="not found"):
        GitHubSource(source.client, "acme/missing").repository_info()
