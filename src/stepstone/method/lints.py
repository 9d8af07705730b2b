"""The precision lints of a stored run: its config's and those recorded while it ran (the
rules are :mod:`stepstone.configs.precision`'s; a running script records its lints through
:mod:`stepstone.sdk.lints`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stepstone.configs.precision import SUMMARY_KEY, config_lints


def run_lints(config: Mapping[str, Any], summary: Mapping[str, Any]) -> list[str]:
    """Every precision lint of a stored run: its config's and those recorded while it ran."""
    messages = [lint.message for lint in config_lints(config)]
    recorded = summary.get(SUMMARY_KEY) or []
    if isinstance(recorded, str):
        recorded = [recorded]
    return messages + [m for m in recorded if m not in messages]
