"""YAML loading that remembers where every value came from.

Pydantic reports errors by key path (``sources.3.url``); users need the line in
their file. Composing the YAML node tree once gives both the data and a map from
key path to line, so every config error can point at the exact spot.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigError

KeyPath = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LocatedYaml:
    """Plain data loaded from a YAML file, plus the line of every key path."""

    data: Any
    path: Path
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, key_path: KeyPath) -> int | None:
        """The line of the deepest prefix of ``key_path`` that exists in the file."""
        for end in range(len(key_path), -1, -1):
            line = self.lines.get(tuple(key_path[:end]))
            if line is not None:
                return line
        return None

    def where(self, key_path: KeyPath) -> str:
        line = self.line_of(key_path)
        return f"{self.path}:{line}" if line else str(self.path)


def format_key_path(key_path: KeyPath) -> str:
    """``('sources', 3, 'url')`` -> ``sources[3].url``."""
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def load_located_yaml(path: Path, *, environ: dict[str, str] | None = None) -> LocatedYaml:
    """Parse ``path``, expand ``${VAR}`` / ``${VAR:-default}`` and record lines."""
    env = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from exc
    located = LocatedYaml(data=None, path=path)
    located.data = {} if root is None else _to_python(root, (), located, env)
    return located


def _to_python(node: yaml.Node, key_path: KeyPath, located: LocatedYaml, env: Any) -> Any:
    located.lines.setdefault(key_path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            if key == "<<":
                raise ConfigError(
                    f"{path_line(located, key_node)}: YAML merge keys are not supported"
                )
            if key in result:
                raise ConfigError(
                    f"{path_line(located, key_node)}: "
                    f"{format_key_path((*key_path, key))}: duplicate key"
                )
            located.lines[(*key_path, key)] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, (*key_path, key), located, env)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, (*key_path, index), located, env)
            for index, item in enumerate(node.value)
        ]
    value = yaml.safe_load(yaml.serialize(node))
    if isinstance(value, str) and "${" in value:
        value = _expand_env(value, key_path, located, env)
    return value


def path_line(located: LocatedYaml, node: yaml.Node) -> str:
    return f"{located.path}:{node.start_mark.line + 1}"


def _expand_env(value: str, key_path: KeyPath, located: LocatedYaml, env: Any) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{located.where(key_path)}: {format_key_path(key_path)}: "
            f"environment variable {name} is not set (write ${{{name}:-default}} for a default)"
        )

    return _ENV_REF.sub(substitute, value)
