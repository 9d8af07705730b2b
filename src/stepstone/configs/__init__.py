"""Configs for runs and baselines: load, override, resolve, diff, verify and hash.

    >>> base = {"model": {"attention": "full"}, "optim": {"lr": 0.001}}
    >>> new = resolve(base, ["model.attention=sliding", "+model.window=16"])
    >>> print(diff(base, new).render())
    ~ model.attention: full -> sliding
    + model.window: 16
    >>> verify(base, new, feature_keys=["model"]).ok
    True

See docs/config.md. This package is a layer of its own, below the store: it imports
nothing of stepstone but the error tree. (``stepstone.config``, singular, is the running
script's wandb-shaped config object, not this package.)
"""

from __future__ import annotations

from stepstone.configs._diff import ConfigDiff, DiffEntry, diff
from stepstone.configs._flat import flatten, unflatten
from stepstone.configs._hashing import config_hash
from stepstone.configs._load import SUFFIXES, interpolate_config, load_config
from stepstone.configs._overrides import Override, apply_override, parse_override, resolve
from stepstone.configs._values import format_value, parse_value
from stepstone.configs._verify import DEFAULT_ALLOWED_KEYS, VerifyResult, verify
from stepstone.errors import ConfigError  # every error of this package (docs/config.md)

__all__ = [
    "DEFAULT_ALLOWED_KEYS",
    "SUFFIXES",
    "ConfigDiff",
    "ConfigError",
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
