"""A stable fingerprint of a config, for finding runs with the same config."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from stepstone.configs._flat import flatten
from stepstone.errors import ConfigError


def config_hash(config: Mapping[str, Any]) -> str:
    """The sha256 (hex) of the config as sorted, compact JSON.

    Key order does not matter; value types do (``1``, ``1.0`` and ``true`` hash apart).
    Raises ConfigError for a value JSON cannot hold.
    """
    flatten(config)  # checks the keys
    try:
        text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"cannot hash the config: {exc}; a config holds only strings, numbers, booleans, "
            "null, lists and mappings"
        ) from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
