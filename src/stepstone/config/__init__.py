"""Configs for runs and baselines: load, override, resolve, diff, verify and hash.

    >>> base = {"model": {"attention": "full"}, "optim": {"lr": 0.001}}
    >>> new = resolve(base, ["model.attention=sliding", "+model.window=16"])
    >>> print(diff(base, new).render())
    ~ model.attention: full -> sliding
    + model.window: 16
    >>> verify(base, new, feature_keys=["model"]).ok
    True

See docs/config.md.
"""

from __future__ import annotations

from stepstone.config._values import format_value, parse_value
from stepstone.config.diff import ConfigDiff, DiffEntry, diff
from stepstone.config.flat import flatten, unflatten
from stepstone.config.hashing import config_hash
from stepstone.config.load import SUFFIXES, interpolate_config, load_config
from stepstone.config.overrides import Override, apply_override, parse_override, resolve
from stepstone.config.verify import DEFAULT_ALLOWED_KEYS, VerifyResult, verify

__all__ = [
    "DEFAULT_ALLOWED_KEYS",
    "SUFFIXES",
    "ConfigDiff",
    "DiffEntry",
    "Override",
    "VerifyResult",
    "apply_override",
    "config_hash",
    "diff",
    "flatten",
    "format_value",
    "interpolate_config",
    "load_config",
    "parse_override",
    "parse_value",
    "resolve",
    "unflatten",
    "verify",
]
