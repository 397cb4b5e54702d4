"""Schema of ``lightfast.yml`` version 1 and its glob matching.

Globs follow gitignore rules (``*`` stays inside one folder, ``**`` crosses folders, a trailing ``/`` means
"everything under this folder") but are always anchored at the repository root: ``*.md`` matches Markdown
files at the root only, ``**/*.md`` matches them anywhere, ``docs/**/*.md`` anywhere under ``docs/``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pathspec
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, StrictInt, field_validator

DEFAULT_MAX_FILE_BYTES = 1024 * 1024
STORE_SLUG_MESSAGE = "must be 1\u201320 characters of a-z, 0-9 and single hyphens"
_STORE_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_glob(glob: object) -> str:
    """A repository-relative glob, normalised (``./`` prefix removed); ValueError names the problem."""
    if not isinstance(glob, str):
        raise ValueError(f"each glob must be a string, got {type(glob).__name__}")
    value = glob.strip()
    while value.startswith("./"):
        value = value[2:]
    if not value:
        raise ValueError("a glob must not be empty")
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"{glob!r} is an absolute path; globs are relative to the repository root")
    if ".." in re.split(r"[/\\]", value):
        raise ValueError(f"{glob!r} contains '..'; globs must stay inside the repository")
    if value.startswith("!"):
        raise ValueError(f"{glob!r} is a negation; list the paths to leave out under 'exclude'")
    return value


Glob = Annotated[str, BeforeValidator(_check_glob)]


def _compile(globs: list[str]) -> pathspec.PathSpec:
    # Anchor every pattern at the root ("/x"), so gitignore's "match at any depth" never applies implicitly.
    return pathspec.PathSpec.from_lines("gitwildmatch", [f"/{glob}" for glob in globs])


class LightfastConfig(BaseModel):
    """A parsed, valid ``lightfast.yml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    store: str
    include: list[Glob] = Field(min_length=1)
    exclude: list[Glob] = Field(default_factory=list)
    max_file_bytes: StrictInt = Field(default=DEFAULT_MAX_FILE_BYTES, gt=0)

    _include_spec: pathspec.PathSpec = PrivateAttr()
    _exclude_spec: pathspec.PathSpec = PrivateAttr()

    @field_validator("store", mode="before")
    @classmethod
    def _store_slug(cls, value: object) -> str:
        if not isinstance(value, str) or len(value) > 20 or not _STORE_SLUG.match(value):
            raise ValueError(STORE_SLUG_MESSAGE)
        return value

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _glob_list(cls, value: object) -> object:
        if not isinstance(value, list):
            raise ValueError("must be a list of globs")
        return value

    @field_validator("include", "exclude")
    @classmethod
    def _compilable(cls, globs: list[str]) -> list[str]:
        try:
            _compile(globs)
        except Exception as error:  # pathspec raises its own error types for malformed patterns
            raise ValueError(f"invalid glob: {error}") from None
        return globs

    def model_post_init(self, __context: object) -> None:
        """Compile the globs once."""
        self._include_spec = _compile(self.include)
        self._exclude_spec = _compile(self.exclude)

    def matches(self, path: str) -> bool:
        """True when the repository-relative POSIX ``path`` is included and not excluded.

        Control characters in a name stand for "any one character" (globs never match a newline otherwise), so a
        file named with one is selected like its neighbours and then skipped with a reason, never silently.
        """
        path = _CONTROL.sub("?", path)
        return self._include_spec.match_file(path) and not self._exclude_spec.match_file(path)
