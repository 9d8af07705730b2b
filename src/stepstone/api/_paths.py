"""Where things are, in wandb's terms: the entity every path names, the dashboard's address."""

from __future__ import annotations

import os

ENTITY = "stepstone"
"""A lab has no entities (users or teams): every run and project answers this one."""
UI_URL = "http://127.0.0.1:8420"
"""Where ``stepstone ui`` serves by default (``STEPSTONE_UI_URL`` names another place)."""


def ui_url() -> str:
    """The dashboard's address (``STEPSTONE_UI_URL``, else 127.0.0.1:8420)."""
    return os.environ.get("STEPSTONE_UI_URL", UI_URL).rstrip("/")


def run_url(run_id: str) -> str:
    """A run's page on the dashboard."""
    return f"{ui_url()}/runs/{run_id}"
