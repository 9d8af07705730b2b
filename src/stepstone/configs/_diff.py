"""What changed between two configs, key by key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stepstone.configs._flat import flatten
from stepstone.configs._values import format_value, same_value

Kind = Literal["added", "removed", "changed"]
_SIGN = {"added": "+", "removed": "-", "changed": "~"}


@dataclass(frozen=True)
class DiffEntry:
    """One dotted key that differs. ``old`` is None when added, ``new`` None when removed."""

    kind: Kind
    key: str
    old: Any = None
    new: Any = None

    def render(self) -> str:
        """``~ key: old -> new``, ``+ key: new`` or ``- key: old``."""
        if self.kind == "changed":
            return f"~ {self.key}: {format_value(self.old)} -> {format_value(self.new)}"
        value = self.new if self.kind == "added" else self.old
        return f"{_SIGN[self.kind]} {self.key}: {format_value(value)}"

    def to_dict(self) -> dict[str, Any]:
        """``{"key", "old", "new"}`` without the side that does not exist."""
        out: dict[str, Any] = {"key": self.key}
        if self.kind != "added":
            out["old"] = self.old
        if self.kind != "removed":
            out["new"] = self.new
        return out


@dataclass(frozen=True)
class ConfigDiff:
    """The differences between a base config and a new one, each group sorted by key."""

    added: tuple[DiffEntry, ...] = ()
    removed: tuple[DiffEntry, ...] = ()
    changed: tuple[DiffEntry, ...] = ()

    @property
    def entries(self) -> tuple[DiffEntry, ...]:
        """Every entry, sorted by key."""
        return tuple(sorted((*self.added, *self.removed, *self.changed), key=lambda e: e.key))

    @property
    def keys(self) -> tuple[str, ...]:
        """Every dotted key that differs, sorted."""
        return tuple(entry.key for entry in self.entries)

    def __len__(self) -> int:
        return len(self.added) + len(self.removed) + len(self.changed)

    def render(self) -> str:
        """One line per key, sorted by key; ``no differences`` when there are none."""
        return "\n".join(e.render() for e in self.entries) or "no differences"

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """``{"added": [...], "removed": [...], "changed": [...]}`` for JSON output."""
        return {
            "added": [e.to_dict() for e in self.added],
            "removed": [e.to_dict() for e in self.removed],
            "changed": [e.to_dict() for e in self.changed],
        }


def diff(base: Mapping[str, Any], new: Mapping[str, Any]) -> ConfigDiff:
    """Compare two configs leaf by leaf (dotted keys; lists compare whole; 1 ≠ 1.0 ≠ True)."""
    old_flat, new_flat = flatten(base), flatten(new)
    added = [DiffEntry("added", k, None, new_flat[k]) for k in new_flat if k not in old_flat]
    removed = [DiffEntry("removed", k, old_flat[k], None) for k in old_flat if k not in new_flat]
    changed = [
        DiffEntry("changed", k, old_flat[k], new_flat[k])
        for k in old_flat
        if k in new_flat and not same_value(old_flat[k], new_flat[k])
    ]
    return ConfigDiff(
        added=tuple(sorted(added, key=lambda e: e.key)),
        removed=tuple(sorted(removed, key=lambda e: e.key)),
        changed=tuple(sorted(changed, key=lambda e: e.key)),
    )
