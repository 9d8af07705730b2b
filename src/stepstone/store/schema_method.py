"""Migrations of the research-method tables (ideas, questions, baselines, notebook): version 2."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stepstone.store.migrations import Migration

MIGRATIONS: tuple[Migration, ...] = ()
