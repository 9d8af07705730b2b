"""Read a config file (YAML, JSON or TOML) into a plain dict, and resolve ``${...}`` references."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from stepstone.configs._flat import walk
from stepstone.configs._values import ConfigLoader
from stepstone.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
"""Config file extensions stepstone reads, and the format of each."""


def load_config(path: str | Path, *, interpolate: bool = True) -> dict[str, Any]:
    """Read a config file into a plain nested dict.

    The format follows the extension (``.yaml``/``.yml``, ``.json``, ``.toml``). An empty
    YAML file is an empty config. With ``interpolate`` (the default), OmegaConf-style
    ``${a.b}`` references are resolved; pass ``interpolate=False`` to keep them, so that
    :func:`stepstone.configs.resolve` resolves them after the overrides (as Hydra does).
    Raises ConfigError for a missing or unreadable file, an unknown extension, a parse error
    (with its line), a top level that is not a mapping, or a key that is not a plain string.
    """
    file = Path(path)
    if file.is_dir():  # before its extension: a folder has none to speak of
        raise ConfigError(f"config path {file} is a folder; give the path of a file")
    kind = SUFFIXES.get(file.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"cannot read config {file}: unknown extension {file.suffix or '(none)'!r}; "
            "use .yaml, .yml, .json or .toml"
        )
    text = _read(file)
    try:
        data = _parse(text, kind, file)
        if data is None and kind == "yaml":
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"config {file} holds a {_kind_name(data)} at the top level; "
                "a config must be a mapping of keys to values (key: value)"
            )
        config = _plain(data)
        for _ in walk(config):  # checks that every key is a plain string without dots
            pass
        return interpolate_config(config, source=str(file)) if interpolate else config
    except RecursionError:
        raise ConfigError(f"config {file} nests too deeply to read (thousands of levels); "
                          "a config is a few levels of key: value") from None


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file}; check the path") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {file} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {file}: {exc.strerror or exc}") from None


def _parse(text: str, kind: str, file: Path) -> Any:
    try:
        if kind == "json":
            return json.loads(text)
        if kind == "toml":
            return tomllib.loads(text)
        return yaml.load(text, Loader=ConfigLoader)  # a safe loader
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ConfigError(f"cannot parse JSON config {file}: {exc.msg} at {where}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot parse TOML config {file}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse YAML config {file}: {_yaml_problem(exc)}") from None
    except (ValueError, TypeError) as exc:  # a YAML tag's own check: !!int x, !!binary ...
        raise ConfigError(f"cannot parse YAML config {file}: {str(exc).splitlines()[0]}; "
                          "fix or quote the tagged value") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return str(problem)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


def _kind_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _plain(value: Any) -> Any:
    """Dates and times (TOML has them) become ISO strings; tuples become lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return value


def uses_interpolation(config: Any) -> bool:
    """Whether any string in the config holds an OmegaConf ``${...}`` reference."""
    if isinstance(config, str):
        return "${" in config
    if isinstance(config, Mapping):
        return any(uses_interpolation(v) for v in config.values())
    if isinstance(config, (list, tuple)):
        return any(uses_interpolation(v) for v in config)
    return False


def interpolate_config(config: Mapping[str, Any], source: str = "the config") -> dict[str, Any]:
    """Resolve OmegaConf ``${a.b}`` references (and resolvers like ``${oc.env:HOME}``).

    Returns a new dict; a config without references comes back as a copy, and OmegaConf
    is imported only when a reference is present.
    """
    if not uses_interpolation(config):
        return _plain(config)  # type: ignore[no-any-return]
    try:
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException
    except ImportError:
        raise ConfigError(
            f"{source} uses ${{...}} interpolations and OmegaConf is not installed; "
            "install it with pip install 'stepstone[config]'"
        ) from None
    try:
        resolved = OmegaConf.to_container(OmegaConf.create(dict(config)), resolve=True)
    except (OmegaConfBaseException, ValueError) as exc:
        message = str(exc).splitlines()[0]
        raise ConfigError(
            f"cannot resolve an interpolation in {source}: {message}; "
            "check that the key it points to exists"
        ) from None
    return resolved  # type: ignore[return-value]
