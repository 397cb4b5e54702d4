"""Find, load and validate a repository's ``lightfast.yml``; every problem becomes one readable message."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from lightfast_pipeline.config.schema import LightfastConfig
from lightfast_pipeline.index.hashing import stable_hash
from lightfast_pipeline.sources.base import SymlinkError

CONFIG_FILENAMES = ("lightfast.yml", ".lightfast.yml", "lightfast.yaml", ".lightfast.yaml")
MAX_CONFIG_BYTES = 64 * 1024

DetectionStatus = Literal["configured", "unconfigured", "error"]


class ConfigError(ValueError):
    """``lightfast.yml`` is unreadable or invalid; the message names the key and the problem."""


@dataclass(frozen=True)
class ConfigDetection:
    """Outcome of looking for a config file at the root of a repository."""

    status: DetectionStatus
    path: str | None = None
    config: LightfastConfig | None = None
    error: str | None = None


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys (which would otherwise silently drop a value), aliases (a
    config needs none, and they can expand a small file without bound) and keys that are not plain scalars."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise ConfigError(f"aliases (*name) are not allowed, at line {mark.line + 1}, column {mark.column + 1}")
        return super().compose_node(parent, index)


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            mark = key_node.start_mark
            raise ConfigError(f"keys must be plain names, at line {mark.line + 1}, column {mark.column + 1}")
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            mark = key_node.start_mark
            raise ConfigError(f"{key}: duplicate key at line {mark.line + 1}, column {mark.column + 1}")
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: dict[str, Any]) -> str:
    kind, loc = error["type"], _location(error["loc"])
    if kind == "extra_forbidden":
        return f"unknown key {loc!r}"
    if kind == "missing":
        return f"{loc}: is required"
    if loc == "version":
        return "version: must be 1"
    if loc == "max_file_bytes":
        return "max_file_bytes: must be a positive whole number of bytes"
    if loc == "include" and kind == "too_short":
        return "include: at least one glob is required"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{loc}: {message}"


def parse_config(data: bytes) -> LightfastConfig:
    """Validate the bytes of a config file; raise ConfigError with a message that names the key."""
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"file is {len(data)} bytes; the limit is 64 KiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"not UTF-8 text (byte {error.start})") from None
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"invalid YAML{where}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML: {error}") from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply") from None
    if document is None:
        raise ConfigError("file is empty; expected keys version, store and include")
    if not isinstance(document, dict):
        raise ConfigError(f"must be a mapping of keys to values, not a {type(document).__name__}")
    try:
        return LightfastConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError("; ".join(_describe(item) for item in error.errors())) from None


def detect_config(read_file: Callable[[str], bytes | None]) -> ConfigDetection:
    """Look for the first config file that exists and parse it.

    ``read_file`` returns None when the path is absent and raises IsADirectoryError when it is a folder and
    SymlinkError when it is a symbolic link: both are errors (never "no config", which would remove the
    repository's documents), and a link is never followed (its target may lie outside the repository).
    """
    for filename in CONFIG_FILENAMES:
        try:
            data = read_file(filename)
        except IsADirectoryError:
            return ConfigDetection("error", path=filename, error=f"{filename} is a folder, not a file")
        except SymlinkError:
            message = f"{filename} is a symbolic link; the config must be a regular file"
            return ConfigDetection("error", path=filename, error=message)
        if data is None:
            continue
        try:
            return ConfigDetection("configured", path=filename, config=parse_config(data))
        except ConfigError as error:
            return ConfigDetection("error", path=filename, error=str(error))
    return ConfigDetection("unconfigured")


def config_fingerprint(config: LightfastConfig) -> str:
    """Stable hash of the parsed config (equal for equivalent files that differ in layout or comments)."""
    return stable_hash(json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":")))
