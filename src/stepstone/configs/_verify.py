"""Check a new config against its baseline: the feature is really on, nothing else moved."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stepstone.configs._diff import ConfigDiff, DiffEntry, diff
from stepstone.configs._flat import all_keys, check_key, flatten
from stepstone.configs._values import format_value
from stepstone.errors import ConfigError

DEFAULT_ALLOWED_KEYS: tuple[str, ...] = (
    "seed",
    "name",
    "smoke",
    "tags",
    "notes",
    "output_dir",
    "out_dir",
    "hydra",
)
"""Top-level keys that vary between runs of the same config and never count as a change.

Each covers its subtree (``hydra`` covers ``hydra.run.dir``); a nested key of the same
name (``data.seed``) is not covered. Pass ``default_allowed=()`` to :func:`verify` to
check these too."""


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`: ``ok`` when ``problems`` is empty; the full diff."""

    ok: bool
    problems: tuple[str, ...]
    diff: ConfigDiff

    def raise_for_problems(self) -> None:
        """Raise ConfigError listing every problem, if there is any."""
        if self.problems:
            lines = "\n".join(f"- {p}" for p in self.problems)
            raise ConfigError(f"the config does not verify against its baseline:\n{lines}")

    def to_dict(self) -> dict[str, Any]:
        """``{"ok", "problems", "diff"}`` for JSON output."""
        return {"ok": self.ok, "problems": list(self.problems), "diff": self.diff.to_dict()}


def covers(prefix: str, key: str) -> bool:
    """Whether ``prefix`` is ``key`` or one of its parents (``model`` covers ``model.x``)."""
    return key == prefix or key.startswith(prefix + ".")


def _keys(keys: Iterable[str], what: str) -> list[str]:
    if isinstance(keys, str):
        keys = [keys]
    out = [str(k).strip() for k in keys]
    for key in out:
        check_key(key, what)
    return list(dict.fromkeys(out))


def verify(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    feature_keys: Iterable[str],
    allowed_keys: Iterable[str] = (),
    *,
    default_allowed: Iterable[str] = DEFAULT_ALLOWED_KEYS,
) -> VerifyResult:
    """Verify ``new`` against ``base``.

    Every feature key (a dotted key or a prefix of keys) must differ from the baseline,
    or the feature is not really on. Every other difference must be covered by
    ``allowed_keys`` or ``default_allowed``, or it is an accidental change.
    """
    features = _keys(feature_keys, "feature key")
    allowed = _keys(allowed_keys, "allowed key") + _keys(default_allowed, "allowed key")
    result = diff(base, new)
    problems = [
        _not_on(key, base, new)
        for key in features
        if not any(covers(key, e.key) for e in result.entries)
    ]
    problems += [
        _accidental(entry)
        for entry in result.entries
        if not any(covers(key, entry.key) for key in (*features, *allowed))
    ]
    return VerifyResult(ok=not problems, problems=tuple(problems), diff=result)


def _not_on(key: str, base: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    flat = flatten(base)
    start = f"feature key {key} is not on"
    if key in flat:
        return (
            f"{start}: it equals the baseline ({key} = {format_value(flat[key])}); "
            f"set it with {key}=VALUE"
        )
    if key in all_keys(base):
        count = sum(1 for k in flat if covers(key, k))
        return (
            f"{start}: it equals the baseline (all {count} keys under {key} are unchanged); "
            f"set one with {key}.KEY=VALUE"
        )
    return f"{start}: it is in neither the baseline nor the new config; add it with +{key}=VALUE"


def _accidental(entry: DiffEntry) -> str:
    allow = f"list it with --allow {entry.key}"
    if entry.kind == "changed":
        what = f"{entry.key} {format_value(entry.old)} -> {format_value(entry.new)}"
        return f"accidental change: {what} is not part of the feature; {allow} or revert it"
    if entry.kind == "added":
        what = f"{entry.key} was added ({format_value(entry.new)})"
        return f"accidental change: {what} and is not part of the feature; {allow} or remove it"
    what = f"{entry.key} was removed (baseline: {format_value(entry.old)})"
    return f"accidental change: {what} and is not part of the feature; {allow} or restore it"
