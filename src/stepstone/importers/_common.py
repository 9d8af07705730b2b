"""What every importer shares: candidates, the report, and writing through the store."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepstone.store.imports import ImportedRun, Imports
from stepstone.store.lab import Lab, open_lab
from stepstone.store.media import media_name

LabRef = Lab | str | Path | None


@dataclass(frozen=True)
class Candidate:
    """A run found in a source: its id and origin are known before its data is read."""

    run_id: str
    origin: str
    load: Callable[[], ImportedRun]


@dataclass
class ImportReport:
    """What an import did: runs written, runs updated (the source had grown since an earlier
    import), runs skipped (with why), and notes on lost detail."""

    source: str
    imported: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(int(r["points"]) for r in (*self.imported, *self.updated))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "imported": self.imported, "updated": self.updated,
                "skipped": self.skipped,
                "notes": self.notes, "points": self.points}


class Sink:
    """Accumulates one run's metric points, text values and media files, in the order they
    come."""

    def __init__(self) -> None:
        self.series: dict[str, tuple[list[int], list[float], list[float]]] = {}
        self.texts: list[tuple[str, int, float, str]] = []
        self.objects: list[tuple[str, str, bytes]] = []  # ("media", name, data)
        self.dropped: dict[str, int] = {}

    def add(self, key: str, step: int, value: Any, ts: float) -> None:
        """Add one point; numbers become floats, text is kept as text, anything else is counted."""
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, (int, float)):
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = ([], [], [])
            series[0].append(int(step))
            series[1].append(float(value))
            series[2].append(float(ts))
        elif isinstance(value, str):
            self.texts.append((key, int(step), float(ts), value))
        else:
            self.dropped[key] = self.dropped.get(key, 0) + 1

    def add_media(self, key: str, step: int, suffix: str, data: bytes) -> None:
        """Add one media file of ``key`` at ``step``, named as a logged one is."""
        self.objects.append(("media", media_name(key, int(step), suffix), data))

    def last_values(self) -> dict[str, Any]:
        """The last value of each numeric series (what a summary holds when nothing else does)."""
        return {k: v[-1] for k, (_, v, _) in self.series.items() if v}


def write_candidates(
    lab: LabRef, source: str, candidates: Iterable[Candidate], *, dry_run: bool = False,
    report: ImportReport | None = None,
) -> ImportReport:
    """Write each candidate whose id is not in the lab yet, and again each one imported from
    the same place whose source has grown since; say what happened to each."""
    report = report or ImportReport(source)
    opened, owned = (lab, False) if isinstance(lab, Lab) else (open_lab(lab), True)
    try:
        imports = Imports(opened.db)
        for cand in candidates:
            existing = imports.origin(cand.run_id)
            if existing is not None and existing != cand.origin:
                why = (f"a run with id {cand.run_id} is already in the lab"
                       + (f" (imported from {existing})" if existing else ""))
                report.skipped.append({"id": cand.run_id, "from": cand.origin, "reason": why})
                continue
            run = cand.load()
            run.row["imported_from"] = cand.origin
            again = existing is not None
            if again and imports.unchanged(run):
                report.skipped.append({"id": run.id, "from": cand.origin,
                                       "reason": "already imported"})
                continue
            entry = {"id": run.id, "name": run.row.get("name"), "from": cand.origin,
                     "points": run.points, "status": run.row.get("status")}
            done = report.updated if again else report.imported
            if dry_run:
                done.append({**entry, "dry_run": True})
            elif imports.write(run, opened.objects, replace=again):
                done.append(entry)
            else:  # written by someone else since we looked
                report.skipped.append({"id": run.id, "from": cand.origin,
                                       "reason": "already imported"})
    finally:
        if owned:
            opened.close()
    return report


def note_dropped(report: ImportReport, run_id: str, sink: Sink) -> None:
    """Record in the report the values that could not be kept as metrics (media, tables)."""
    if sink.dropped:
        keys = ", ".join(f"{k} ({n})" for k, n in sorted(sink.dropped.items())[:8])
        more = "" if len(sink.dropped) <= 8 else f" and {len(sink.dropped) - 8} more keys"
        report.notes.append(f"run {run_id}: skipped values that are not numbers or text: "
                            f"{keys}{more}")
