"""GitHub installations in the API and the CLI, against the local GitHub server: list, validate (added and
removed counts, recorded as activity), an installation's repositories with `connected`, config detection
before connecting."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lightfast_pipeline.keys.service import create_key
from lightfast_pipeline.runtime import Runtime
from lightfast_pipeline.workspaces.workspace import get_or_create_organization
from tests.support.api_server import ApiServer, api_environment, cli_json, environment, start_server
from tests.support.github_fixtures import APP_ID, WEBHOOK_SECRET, GitRepo, app_key_pair
from tests.support.github_server import GitHubServer


@dataclass
class GitHubState:
    server: ApiServer
    github: GitHubServer
    root: Path
    admin: httpx.Client
    read: httpx.Client


def _repository(root: Path, name: str, config: bool) -> Path:
    repo = GitRepo(root / name.replace("/", "-"))
    files = {"docs/index.md": f"# {name}\n\ntext\n"}
    if config:
        files["lightfast.yml"] = 'version: 1\nstore: docs\ninclude: ["docs/**/*.md"]\n'
    repo.commit(files)
    return repo.path


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubState]:
    root = tmp_path_factory.mktemp("api-github")
    private, public = app_key_pair()
    github = GitHubServer(app_id=APP_ID, public_key_pem=public).start()
    github.add_installation(1, "acme", repository_selection="selected")
    github.add_installation(2, "solo", account_type="User", repository_selection="all", suspended=True)
    github.add_repository("acme/docs", _repository(root, "acme/docs", True), repo_id=101, installation_id=1)
    github.add_repository("acme/site", _repository(root, "acme/site", False), repo_id=102, installation_id=1)
    github.add_repository("solo/notes", _repository(root, "solo/notes", True), repo_id=201, installation_id=2)
    env = api_environment(root / "lightfast") | {
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_APP_PRIVATE_KEY": private,
        "GITHUB_API_URL": github.url,
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    with environment(env):
        runtime = Runtime()
        with runtime.session() as session:
            get_or_create_organization(session)
            _, admin = create_key(session, workspace=None, role="admin", name="gh-admin", actor="tester")
            _, read = create_key(session, workspace=None, role="read", name="gh-read", actor="tester")
        server = start_server(dict(os.environ), root / "serve.log")
        try:
            yield GitHubState(server, github, root, server.client(admin), server.client(read))
        finally:
            server.stop()
            runtime.instance.dispose()
            github.stop()


def test_installations_list_equals_the_cli_and_counts_connections(state: GitHubState) -> None:
    connected = state.admin.post("/v1/repositories", json={"github": "acme/docs", "installation_id": "1"})
    assert connected.status_code == 201, connected.text
    assert connected.json()["config_status"] == "configured" and connected.json()["source_type"] == "github"

    listed = state.read.get("/v1/github/installations").json()["installations"]
    assert listed == [
        {
            "id": "1",
            "account": "acme",
            "account_type": "Organization",
            "repository_selection": "selected",
            "suspended": False,
            "repositories_connected": 1,
        },
        {
            "id": "2",
            "account": "solo",
            "account_type": "User",
            "repository_selection": "all",
            "suspended": True,
            "repositories_connected": 0,
        },
    ]
    assert cli_json("github", "installations", "list", "--json")["installations"] == listed


def test_repositories_of_an_installation_have_connected_flags(state: GitHubState) -> None:
    rows = state.read.get("/v1/github/installations/1/repositories").json()["repositories"]
    assert [(row["full_name"], row["connected"]) for row in rows] == [("acme/docs", True), ("acme/site", False)]
    assert cli_json("github", "installations", "repos", "1", "--json")["repositories"] == rows
    assert state.read.get("/v1/github/installations/99/repositories").status_code == 404


def test_detect_config_before_connecting(state: GitHubState) -> None:
    found = state.read.post("/v1/github/installations/1/detect-config", json={"repository": "acme/docs"}).json()
    assert (found["status"], found["path"], found["store"]) == ("configured", "lightfast.yml", "docs")
    missing = state.read.post("/v1/github/installations/1/detect-config", json={"repository": "acme/site"}).json()
    assert missing["status"] == "unconfigured" and missing["path"] is None
    other = state.read.post("/v1/github/installations/1/detect-config", json={"repository": "solo/notes"})
    assert other.status_code == 404  # installation 1 cannot see it
    bad = state.read.post("/v1/github/installations/1/detect-config", json={"repository": "../etc"})
    assert bad.status_code == 422 and "repository" in bad.json()["error"]["message"]


def test_validate_counts_added_and_removed_and_records_them(state: GitHubState) -> None:
    first = state.admin.post("/v1/github/installations/1/validate").json()
    assert (first["repositories"], first["added"], first["removed"]) == (2, 2, 0)

    state.github.add_repository("acme/blog", _repository(state.root, "acme/blog", True), repo_id=103, installation_id=1)
    state.github.uninstall_repository("acme/site")
    second = state.admin.post("/v1/github/installations/1/validate").json()
    assert (second["repositories"], second["added"], second["removed"]) == (2, 1, 1)
    assert (second["added_repositories"], second["removed_repositories"]) == (["acme/blog"], ["acme/site"])

    again = cli_json("github", "installations", "validate", "1", "--json")
    assert (again["added"], again["removed"]) == (0, 0)
    rows = state.read.get("/v1/activity", params={"type": "installation.validated"}).json()["activity"]
    assert [(row["actor"], row["impact"]) for row in rows] == [
        ("tester", {"added": 0, "removed": 0, "repositories": 2}),
        ("gh-admin", {"added": 1, "removed": 1, "repositories": 2}),
        ("gh-admin", {"added": 2, "removed": 0, "repositories": 2}),
    ]
    assert state.admin.post("/v1/github/installations/77/validate").status_code == 404
