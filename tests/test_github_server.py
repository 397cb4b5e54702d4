"""The local GitHub server answers in the shapes of GitHub's own examples (same keys)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from lightfast_pipeline.sources.github import AppCredentials, app_jwt
from tests.support.github_fixtures import APP_ID, GitHubApp, GitRepo, app_key_pair
from tests.support.github_server import EXAMPLES


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


def test_responses_have_the_keys_of_the_github_examples(tmp_path: Path, github_app: GitHubApp) -> None:
    repo = GitRepo(tmp_path / "r")
    head = repo.commit({"README.md": "# R\n", "sub/file.txt": "text\n"})
    server = github_app.server
    server.add_repository("acme/r", repo.path, repo_id=9, installation_id=3)
    jwt_token = app_jwt(AppCredentials(APP_ID, app_key_pair()[0]))

    token_response = requests.post(
        f"{server.url}/app/installations/3/access_tokens", headers={"Authorization": f"Bearer {jwt_token}"}
    )
    assert token_response.status_code == 201
    token = token_response.json()
    assert token.keys() == example("apps-create-installation-access-token.201.json").keys()
    assert token["token"].startswith("ghs_")
    assert token_response.headers["x-ratelimit-remaining"].isdigit()

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['token']}"
    base = f"{server.url}/repos/acme/r"
    assert session.get(base).json().keys() == example("repos-get.200.json").keys()

    tree = session.get(f"{base}/git/trees/{head}").json()
    assert tree.keys() == example("git-trees-get.200.default.json").keys()
    expected_entry = {e["type"]: e.keys() for e in example("git-trees-get.200.default.json")["tree"]}
    assert {e["type"]: e.keys() for e in tree["tree"]} == expected_entry
    recursive = session.get(f"{base}/git/trees/{head}", params={"recursive": "1"}).json()
    assert "sub/file.txt" in [e["path"] for e in recursive["tree"]]

    blob_sha = next(e["sha"] for e in tree["tree"] if e["path"] == "README.md")
    assert session.get(f"{base}/git/blobs/{blob_sha}").json().keys() == example("git-blobs-get.200.json").keys()
    contents = session.get(f"{base}/contents/README.md", params={"ref": head}).json()
    assert contents.keys() == example("repos-contents-get.200.file.json").keys()

    assert requests.get(base).status_code == 401  # no token
    bad_jwt = requests.post(
        f"{server.url}/app/installations/3/access_tokens", headers={"Authorization": "Bearer x.y.z"}
    )
    assert bad_jwt.status_code == 401


def test_old_name_redirects_like_github(tmp_path: Path, github_app: GitHubApp) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit({"README.md": "# R\n"})
    server = github_app.server
    server.add_repository("acme/r", repo.path, repo_id=11)
    server.rename("acme/r", "acme/renamed")
    response = requests.get(f"{server.url}/repos/acme/r", allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == f"{server.url}/repositories/11"
    assert response.json().keys() == {"message", "url", "documentation_url"}
