"""Dated versions of baselines and suites: ``small@2026-11-21``, then ``small@2026-11-21.2``."""

from __future__ import annotations


def dated_version(name: str, day: str, seq: int) -> str:
    """The ``seq``-th version of ``name`` made on ``day`` (the first one has no suffix)."""
    return f"{name}@{day}" + (f".{seq}" if seq > 1 else "")
