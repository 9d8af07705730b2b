"""Configs for runs and baselines: load, override, resolve, diff, verify and hash.

    >>> from stepstone.configs import diff, resolve, verify
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

from typing import TYPE_CHECKING

from stepstone._lazy import lazy_names
from stepstone.errors import ConfigError  # every error of this package (docs/config.md)

if TYPE_CHECKING:
    from stepstone.configs._diff import ConfigDiff, DiffEntry, diff
    from stepstone.configs._flat import flatten, unflatten
    from stepstone.configs._hashing import config_hash
    from stepstone.configs._load import SUFFIXES, interpolate_config, load_config
    from stepstone.configs._overrides import Override, apply_override, parse_override, resolve
    from stepstone.configs._values import format_value, parse_value
    from stepstone.configs._verify import DEFAULT_ALLOWED_KEYS, VerifyResult, verify

# Each name is imported from its module on first use: the SDK reads a run's config with
# `configs.precision` at `stepstone.init`, which must not load YAML (start-up speed).
__getattr__, __dir__ = lazy_names(globals(), {
    "ConfigDiff": "_diff", "DiffEntry": "_diff", "diff": "_diff",
    "flatten": "_flat", "unflatten": "_flat",
    "config_hash": "_hashing",
    "SUFFIXES": "_load", "interpolate_config": "_load", "load_config": "_load",
    "Override": "_overrides", "apply_override": "_overrides", "parse_override": "_overrides",
    "resolve": "_overrides",
    "format_value": "_values", "parse_value": "_values",
    "DEFAULT_ALLOWED_KEYS": "_verify", "VerifyResult": "_verify", "verify": "_verify",
})

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
