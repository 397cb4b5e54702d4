"""A repository on GitHub read through the REST API, implementing ``sources.base.Source``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any
from urllib.parse import quote

from lightfast_pipeline.sources.base import MODE_SUBMODULE, RepositoryInfo, SourceError, SymlinkError, TreeEntry
from lightfast_pipeline.sources.github.client import GitHubClient, GitHubNotFoundError

BLOB_BATCH = 32  # blobs fetched concurrently per window (bounded memory, ordered output)


class GitHubSource:
    """One repository, addressed by ``owner/name``; GitHub's 301 after a rename or transfer is followed.

    ``default_branch``, when known (the catalog keeps it current from ``repository`` webhooks), saves the
    repository call before the branch's ref: the head is then one API call.
    """

    def __init__(
        self, client: GitHubClient, full_name: str, *, max_workers: int = 8, default_branch: str | None = None
    ) -> None:
        self.client = client
        self.full_name = full_name
        self.max_workers = max_workers
        self._default_branch = default_branch
        self._sizes: dict[str, int] = {}

    @property
    def api_calls(self) -> int:
        return self.client.api_calls

    @property
    def _base(self) -> str:
        return f"/repos/{quote(self.full_name, safe='/')}"

    def repository_info(self) -> RepositoryInfo:
        try:
            body = self.client.get_json(self._base)
        except GitHubNotFoundError:
            raise SourceError(f"GitHub repository {self.full_name} not found (or the App cannot access it)") from None
        self._default_branch = body["default_branch"]
        return RepositoryInfo(
            source_id=str(body["id"]),
            full_name=body["full_name"],
            default_branch=body["default_branch"],
            archived=bool(body.get("archived", False)),
            private=body.get("private"),
        )

    def head_commit(self, ref: str | None = None) -> str:
        branch = ref or self._default_branch or self.repository_info().default_branch
        try:
            body = self.client.get_json(f"{self._base}/git/ref/heads/{quote(branch, safe='/')}")
        except GitHubNotFoundError:
            raise SourceError(f"branch {branch!r} not found in GitHub repository {self.full_name}") from None
        return body["object"]["sha"]

    def tree(self, commit: str) -> list[TreeEntry]:
        """Every file of the tree at ``commit``, walked to completeness however GitHub truncates it.

        One recursive call per tree that fits GitHub's limit (100,000 entries or 7 MB); a truncated tree costs
        one more call for its own level, and its subtrees are walked alike, concurrently, one level at a time.
        Returned in path order, as ``Source.tree`` promises.
        """
        entries: list[TreeEntry] = []
        pending = [(commit, "")]
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            while pending:
                listings = list(pool.map(lambda item: self._listing(*item), pending))
                pending = [subtree for files, subtrees in listings for subtree in subtrees]
                entries.extend(entry for files, _ in listings for entry in files)
        self._sizes.update({entry.blob_id: entry.size for entry in entries if entry.size is not None})
        entries.sort(key=lambda entry: entry.path)  # listings arrive level by level; a str sorts as its UTF-8
        return entries

    def _get_tree(self, sha: str, *, recursive: bool) -> dict[str, Any]:
        try:
            return self.client.get_json(
                f"{self._base}/git/trees/{sha}", params={"recursive": "1"} if recursive else None
            )
        except GitHubNotFoundError:
            raise SourceError(f"tree {sha} not found in GitHub repository {self.full_name}") from None

    def _listing(self, tree_sha: str, prefix: str) -> tuple[list[TreeEntry], list[tuple[str, str]]]:
        """The files under ``tree_sha``, or, when GitHub truncates the recursive listing, the files of this
        level and the ``(sha, prefix)`` of each subtree still to walk."""
        listing = self._get_tree(tree_sha, recursive=True)
        if not listing.get("truncated"):
            return [_entry(item, prefix) for item in listing["tree"] if item["type"] != "tree"], []
        level = self._get_tree(tree_sha, recursive=False)["tree"]
        files = [_entry(item, prefix) for item in level if item["type"] != "tree"]
        return files, [(item["sha"], f"{prefix}{item['path']}/") for item in level if item["type"] == "tree"]

    def read_blobs(self, blob_ids: Iterable[str], max_bytes: int | None = None) -> Iterator[tuple[str, bytes]]:
        wanted = (
            blob_id
            for blob_id in blob_ids
            if max_bytes is None or self._sizes.get(blob_id) is None or self._sizes[blob_id] <= max_bytes
        )
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            while batch := list(islice(wanted, BLOB_BATCH)):
                for blob_id, data in zip(batch, pool.map(self._blob, batch), strict=True):
                    if max_bytes is None or len(data) <= max_bytes:
                        yield blob_id, data

    def _blob(self, blob_id: str) -> bytes:
        try:
            body = self.client.get_json(f"{self._base}/git/blobs/{blob_id}")
        except GitHubNotFoundError:
            raise SourceError(f"blob {blob_id} not found in GitHub repository {self.full_name}") from None
        return _decode(body, f"blob {blob_id}")

    def read_file(self, commit: str, path: str) -> bytes | None:
        try:
            body = self.client.get_json(f"{self._base}/contents/{quote(path)}", params={"ref": commit})
        except GitHubNotFoundError:
            return None
        if isinstance(body, list):  # the contents API lists a directory
            raise IsADirectoryError(path)
        if isinstance(body, dict) and body.get("type") == "symlink":  # GitHub follows links to files in the repo
            raise SymlinkError(path)
        if not isinstance(body, dict) or body.get("type") != "file":
            return None  # a submodule
        if body.get("encoding") != "base64":  # files over 1 MB come without content: read the blob
            return self._blob(body["sha"])
        return _decode(body, path)


def _entry(item: dict[str, Any], prefix: str) -> TreeEntry:
    mode = item["mode"]
    size = None if mode == MODE_SUBMODULE else item.get("size")
    return TreeEntry(path=f"{prefix}{item['path']}", blob_id=item["sha"], size=size, mode=mode)


def _decode(body: dict[str, Any], what: str) -> bytes:
    try:
        return base64.b64decode(body.get("content") or "")
    except (binascii.Error, ValueError):
        raise SourceError(f"GitHub returned {what} with content that is not valid base64") from None
