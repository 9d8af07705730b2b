"""Migrations of the launch tables (plans and their planned runs): version 3."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stepstone.store.migrations import Migration

MIGRATIONS: tuple[Migration, ...] = ()
