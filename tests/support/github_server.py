"""A local GitHub REST server for tests: serves real git repositories (read with `git`) in GitHub's shapes.

Responses follow the example bodies in ``../shared/fixtures/github-api/`` (``tests/test_github_server.py``
checks the keys). Switches simulate what GitHub does under stress: 5xx bursts, primary and secondary rate
limits (a secondary limit with or without ``retry-after``, as GitHub does not always send it), error pages
that are not JSON (the HTML a proxy answers with a 502 or 503), truncated recursive trees, 301 after a rename.
Installation tokens are issued only for an App JWT that verifies with the test App's public key.
"""

from __future__ import annotations

import base64
import copy
import json
import posixpath
import re
import secrets
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import FIXTURES

EXAMPLES = FIXTURES / "github-api" / "openapi-examples"
RATE_LIMIT = 5000


def git(git_dir: Path, *args: str) -> bytes:
    """Run git in ``git_dir`` and return stdout (raises on failure)."""
    return subprocess.run(["git", "-C", str(git_dir), *args], capture_output=True, check=True).stdout


@dataclass
class ServedRepository:
    """A git repository published under a GitHub id and name."""

    id: int
    full_name: str
    git_dir: Path
    installation_id: int
    default_branch: str = "main"
    private: bool = False
    archived: bool = False


@dataclass
class Installation:
    """An App installation on an account (``GET /app/installations``)."""

    id: int
    account: str
    account_type: str = "Organization"
    repository_selection: str = "selected"
    suspended: bool = False


@dataclass
class _Token:
    installation_id: int
    expires_at: float


@dataclass
class Switches:
    """Failure modes, consumed by the next requests (thread-safe through the server lock)."""

    fail_next: int = 0
    fail_status: int = 502
    fail_html: bool = False
    primary_limit_until: float = 0.0
    secondary_limit_next: int = 0
    secondary_retry_after: int | None = 1
    secondary_status: int = 403
    truncate_trees_over: int | None = None


@dataclass
class GitHubServer:
    """The server state and its switches; ``start()`` serves it on 127.0.0.1 in a thread."""

    app_id: str
    public_key_pem: str
    token_ttl: float = 3600.0
    repositories: dict[int, ServedRepository] = field(default_factory=dict)
    installations: dict[int, Installation] = field(default_factory=dict)
    old_names: dict[str, int] = field(default_factory=dict)
    switches: Switches = field(default_factory=Switches)
    requests: list[tuple[str, str]] = field(default_factory=list)
    tokens_issued: int = 0
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _remaining: int = RATE_LIMIT
    url: str = ""

    # -- setup -----------------------------------------------------------------------------------------
    def add_repository(
        self,
        full_name: str,
        git_dir: Path,
        *,
        repo_id: int,
        installation_id: int = 1,
        default_branch: str = "main",
    ) -> ServedRepository:
        """Publish ``git_dir`` as ``full_name``."""
        repo = ServedRepository(repo_id, full_name, git_dir, installation_id, default_branch)
        self.repositories[repo_id] = repo
        if installation_id not in self.installations:
            self.add_installation(installation_id, full_name.split("/")[0])
        return repo

    def add_installation(self, installation_id: int, account: str, **fields: Any) -> Installation:
        """Install the App on ``account`` (its repositories are those added with this installation id)."""
        installation = Installation(installation_id, account, **fields)
        self.installations[installation_id] = installation
        return installation

    def uninstall_repository(self, full_name: str) -> None:
        """Remove a repository from its installation (the App no longer sees it)."""
        repo = self._by_name(full_name)
        assert repo is not None, full_name
        del self.repositories[repo.id]

    def rename(self, old: str, new: str) -> None:
        """Rename (or transfer) a repository; the old name answers 301 to ``/repositories/{id}``."""
        repo = self._by_name(old)
        assert repo is not None, old
        repo.full_name = new
        self.old_names[old] = repo.id

    def fail_next(self, count: int, status: int = 502, *, html: bool = False) -> None:
        """The next ``count`` requests answer ``status`` (with a proxy's HTML page instead of JSON if ``html``)."""
        self.switches.fail_next, self.switches.fail_status, self.switches.fail_html = count, status, html

    def primary_rate_limit(self, seconds: float) -> None:
        """Exhaust the primary limit: 403 with remaining 0 until ``x-ratelimit-reset`` (now + seconds)."""
        self.switches.primary_limit_until = time.time() + seconds

    def secondary_rate_limit(self, count: int = 1, retry_after: int | None = 1, status: int = 403) -> None:
        """The next ``count`` requests hit a secondary limit, with ``retry-after`` unless it is None."""
        self.switches.secondary_limit_next, self.switches.secondary_retry_after = count, retry_after
        self.switches.secondary_status = status

    def paths(self, method: str = "GET") -> list[str]:
        """Paths requested with ``method`` so far."""
        return [path for m, path in self.requests if m == method]

    # -- serving ---------------------------------------------------------------------------------------
    def start(self) -> GitHubServer:
        """Serve on a free loopback port; ``url`` is set when it accepts connections."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started:
            if time.time() > deadline:
                raise RuntimeError("test GitHub server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def _endpoint(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        with self._lock:
            self.requests.append((request.method, path))
            failure = self._failure()
            self._remaining = max(0, self._remaining - 1)
        if failure is not None:
            return failure
        try:
            response = self._route(request, path)
        except subprocess.CalledProcessError:
            response = _json({"message": "Not Found"}, 404)
        response.headers.update(self._rate_headers())
        return response

    def _failure(self) -> Response | None:
        s = self.switches
        if s.fail_next > 0:
            s.fail_next -= 1
            if s.fail_html:
                return _proxy_page(s.fail_status)
            return _json({"message": "Server Error"}, s.fail_status, self._rate_headers())
        if s.primary_limit_until > time.time():
            headers = self._rate_headers(remaining=0, reset=int(s.primary_limit_until) + 1)
            message = "API rate limit exceeded for installation ID 1."
            return _json({"message": message}, 403, headers)
        if s.secondary_limit_next > 0:
            s.secondary_limit_next -= 1
            headers = self._rate_headers()
            if s.secondary_retry_after is not None:
                headers["retry-after"] = str(s.secondary_retry_after)
            message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            return _json({"message": message}, s.secondary_status, headers)
        return None

    def _rate_headers(self, remaining: int | None = None, reset: int | None = None) -> dict[str, str]:
        left = self._remaining if remaining is None else remaining
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(left),
            "x-ratelimit-reset": str(reset or int(time.time()) + 3600),
            "x-ratelimit-used": str(RATE_LIMIT - left),
            "x-ratelimit-resource": "core",
        }

    # -- routing ---------------------------------------------------------------------------------------
    def _route(self, request: Request, path: str) -> Response:
        if match := re.fullmatch(r"/app/installations/(\d+)/access_tokens", path):
            return self._access_token(request, int(match[1]))
        if match := re.fullmatch(r"/repos/([^/]+/[^/]+)/installation", path):
            return self._installation(request, match[1])
        if match := re.fullmatch(r"/app/installations(?:/(\d+))?", path):
            return self._app_installations(request, int(match[1]) if match[1] else None)
        if path == "/installation/repositories":
            return self._installation_repositories(request)
        if match := re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path):
            name, rest = match[1], match[2] or ""
            repo = self._by_name(name)
            if repo is None and name in self.old_names:
                query = f"?{request.url.query}" if request.url.query else ""
                location = f"{self.url}/repositories/{self.old_names[name]}{rest}{query}"
                body = {"message": "Moved Permanently", "url": location, "documentation_url": ""}
                return _json(body, 301 if request.method == "GET" else 307, {"Location": location})
            return self._repository_call(request, repo, rest)
        if match := re.fullmatch(r"/repositories/(\d+)(/.*)?", path):
            return self._repository_call(request, self.repositories.get(int(match[1])), match[2] or "")
        return _json({"message": "Not Found"}, 404)

    def _by_name(self, full_name: str) -> ServedRepository | None:
        return next((r for r in self.repositories.values() if r.full_name.lower() == full_name.lower()), None)

    def _verify_app_jwt(self, request: Request) -> str | None:
        """None when the Bearer JWT is a valid App JWT, else the reason."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return "missing Bearer JWT"
        try:
            claims = jwt.decode(
                token, self.public_key_pem, algorithms=["RS256"], options={"require": ["iat", "exp", "iss"]}
            )
        except jwt.PyJWTError as error:
            return f"invalid JWT: {error}"
        if str(claims["iss"]) != self.app_id:
            return "wrong issuer"
        if claims["exp"] - time.time() > 600 or claims["exp"] - claims["iat"] > 660:
            return "'exp' too far in the future"
        return None

    def _access_token(self, request: Request, installation_id: int) -> Response:
        if request.method != "POST":
            return _json({"message": "Not Found"}, 404)
        if problem := self._verify_app_jwt(request):
            return _json({"message": f"A JSON web token could not be decoded ({problem})"}, 401)
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + self.token_ttl
        with self._lock:
            self._tokens[token] = _Token(installation_id, expires)
            self.tokens_issued += 1
        body = _example("apps-create-installation-access-token.201.json")
        body.update(token=token, expires_at=_iso(expires), repositories=[])
        body["permissions"] = {"contents": "read", "metadata": "read"}
        return _json(body, 201)

    def _installation(self, request: Request, full_name: str) -> Response:
        if problem := self._verify_app_jwt(request):
            return _json({"message": f"A JSON web token could not be decoded ({problem})"}, 401)
        repo = self._by_name(full_name)
        if repo is None:
            return _json({"message": "Not Found"}, 404)
        owner = full_name.split("/")[0]
        return _json({"id": repo.installation_id, "app_id": int(self.app_id), "account": {"login": owner}})

    def _installation_json(self, installation: Installation) -> dict[str, Any]:
        return {
            "id": installation.id,
            "app_id": int(self.app_id),
            "target_type": installation.account_type,
            "account": {"login": installation.account, "type": installation.account_type},
            "repository_selection": installation.repository_selection,
            "suspended_at": "2026-11-01T00:00:00Z" if installation.suspended else None,
            "permissions": {"contents": "read", "metadata": "read"},
            "events": ["push", "repository"],
            "access_tokens_url": f"{self.url}/app/installations/{installation.id}/access_tokens",
            "html_url": f"https://github.com/settings/installations/{installation.id}",
        }

    def _app_installations(self, request: Request, installation_id: int | None) -> Response:
        if problem := self._verify_app_jwt(request):
            return _json({"message": f"A JSON web token could not be decoded ({problem})"}, 401)
        if installation_id is not None:
            installation = self.installations.get(installation_id)
            return (
                _json(self._installation_json(installation)) if installation else _json({"message": "Not Found"}, 404)
            )
        items = [self._installation_json(i) for _, i in sorted(self.installations.items())]
        return _json(self._page(request, items))

    def _installation_repositories(self, request: Request) -> Response:
        grant = self._grant(request)
        if grant is None:
            return _json({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, 401)
        repos = [
            self._repo_json(r)
            for _, r in sorted(self.repositories.items())
            if r.installation_id == grant.installation_id
        ]
        return _json({"total_count": len(repos), "repositories": self._page(request, repos)})

    @staticmethod
    def _page(request: Request, items: list[Any]) -> list[Any]:
        per_page = min(100, int(request.query_params.get("per_page", "30")))
        page = max(1, int(request.query_params.get("page", "1")))
        return items[(page - 1) * per_page : page * per_page]

    def _grant(self, request: Request) -> _Token | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        grant = self._tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        return None if grant is None or grant.expires_at < time.time() else grant

    def _repository_call(self, request: Request, repo: ServedRepository | None, rest: str) -> Response:
        grant = self._grant(request)
        if grant is None:
            return _json({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, 401)
        if repo is None or grant.installation_id != repo.installation_id or request.method != "GET":
            return _json({"message": "Not Found"}, 404)
        if rest == "":
            return _json(self._repo_json(repo))
        if match := re.fullmatch(r"/git/ref/heads/(.+)", rest):
            sha = git(repo.git_dir, "rev-parse", "--verify", f"refs/heads/{match[1]}").decode().strip()
            return _json(self._ref_json(repo, match[1], sha))
        if match := re.fullmatch(r"/git/trees/([0-9a-f]{40})", rest):
            return _json(self._tree_json(repo, match[1], request.query_params.get("recursive") not in (None, "0")))
        if match := re.fullmatch(r"/git/blobs/([0-9a-f]{40})", rest):
            return _json(self._blob_json(repo, match[1]))
        if match := re.fullmatch(r"/contents/(.+)", rest):
            return self._contents(repo, match[1], request.query_params.get("ref") or repo.default_branch)
        return _json({"message": "Not Found"}, 404)

    # -- bodies ----------------------------------------------------------------------------------------
    def _api(self, repo: ServedRepository) -> str:
        return f"{self.url}/repos/{repo.full_name}"

    def _repo_json(self, repo: ServedRepository) -> dict[str, Any]:
        text = json.dumps(_example("repos-get.200.json"))
        text = text.replace("https://api.github.com", self.url).replace("octocat/Hello-World", repo.full_name)
        body = json.loads(text)
        owner, name = repo.full_name.split("/")
        body.update(id=repo.id, name=name, full_name=repo.full_name, private=repo.private, archived=repo.archived)
        body.update(default_branch=repo.default_branch, visibility="private" if repo.private else "public")
        body["owner"]["login"] = owner
        return body

    def _ref_json(self, repo: ServedRepository, branch: str, sha: str) -> dict[str, Any]:
        return {
            "ref": f"refs/heads/{branch}",
            "node_id": base64.b64encode(f"ref:{branch}".encode()).decode(),
            "url": f"{self._api(repo)}/git/refs/heads/{branch}",
            "object": {"type": "commit", "sha": sha, "url": f"{self._api(repo)}/git/commits/{sha}"},
        }

    def _tree_json(self, repo: ServedRepository, sha: str, recursive: bool) -> dict[str, Any]:
        tree_sha = git(repo.git_dir, "rev-parse", "--verify", f"{sha}^{{tree}}").decode().strip()
        args = ["ls-tree", "-z", "-l", *(["-r", "-t"] if recursive else []), tree_sha]
        entries = []
        for record in git(repo.git_dir, *args).decode().split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            mode, kind, object_id, size = meta.split()
            entry: dict[str, Any] = {"path": path, "mode": mode, "type": kind, "sha": object_id}
            if kind == "blob":
                entry["size"] = int(size)
            entry["url"] = f"{self._api(repo)}/git/{'trees' if kind == 'tree' else 'blobs'}/{object_id}"
            entries.append(entry)
        limit = self.switches.truncate_trees_over
        truncated = recursive and limit is not None and len(entries) > limit
        if truncated:
            entries = entries[:limit]
        return {
            "sha": tree_sha,
            "url": f"{self._api(repo)}/trees/{tree_sha}",
            "tree": entries,
            "truncated": truncated,
        }

    def _blob_json(self, repo: ServedRepository, sha: str) -> dict[str, Any]:
        data = git(repo.git_dir, "cat-file", "blob", sha)
        return {
            "content": base64.encodebytes(data).decode(),
            "encoding": "base64",
            "url": f"{self._api(repo)}/git/blobs/{sha}",
            "sha": sha,
            "size": len(data),
            "node_id": base64.b64encode(f"blob:{sha}".encode()).decode(),
        }

    @staticmethod
    def _is_file(repo: ServedRepository, ref: str, path: str) -> bool:
        """A regular file (not a link, folder or submodule) at ``path``."""
        return git(repo.git_dir, "--literal-pathspecs", "ls-tree", ref, "--", path).decode().startswith("100")

    def _contents(self, repo: ServedRepository, path: str, ref: str) -> Response:
        spec = f"{ref}:{path}"
        kind = git(repo.git_dir, "cat-file", "-t", spec).decode().strip()
        sha = git(repo.git_dir, "rev-parse", spec).decode().strip()
        listing = git(repo.git_dir, "--literal-pathspecs", "ls-tree", ref, "--", path).decode()
        if listing.startswith("120000 "):  # like GitHub: a link to a file of the repository is followed
            target = git(repo.git_dir, "cat-file", "blob", sha).decode(errors="replace")
            inside = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if not target.startswith("/") and not inside.startswith("..") and self._is_file(repo, ref, inside):
                return self._contents(repo, inside, ref)
            return _json({"type": "symlink", "target": target, "name": path.rsplit("/", 1)[-1], "path": path})
        if kind == "tree":
            listing = self._tree_json(repo, sha, recursive=False)["tree"]
            return _json([{"name": e["path"], "path": f"{path}/{e['path']}", "sha": e["sha"]} for e in listing])
        data = git(repo.git_dir, "cat-file", "blob", sha)
        api = self._api(repo)
        html = f"https://github.com/{repo.full_name}/blob/{ref}/{path}"
        links = {"git": f"{api}/git/blobs/{sha}", "self": f"{api}/contents/{path}", "html": html}
        return _json(
            {
                "type": "file",
                "encoding": "base64",
                "size": len(data),
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "content": base64.encodebytes(data).decode(),
                "sha": sha,
                "url": f"{api}/contents/{path}?ref={ref}",
                "git_url": links["git"],
                "html_url": html,
                "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
                "_links": links,
            }
        )


def _example(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((EXAMPLES / name).read_text()))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/json; charset=utf-8")


PROXY_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}


def _proxy_page(status: int) -> Response:
    """The HTML error page a load balancer in front of the API answers with (no JSON, no rate-limit headers)."""
    title = f"{status} {PROXY_REASONS.get(status, 'Error')}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(page, status_code=status, media_type="text/html")
