"""The live progress display of ``stepstone demo``: one line per stage, a bar for a ladder's
runs (done / running / failed / waiting), on stderr; silent when quiet."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any


class Display:
    """Stages as rich progress rows; safe to update from a polling thread."""

    def __init__(self, *, quiet: bool, total_stages: int) -> None:
        self.quiet = quiet
        self.total_stages = total_stages
        self._count = 0
        self._lock = threading.Lock()
        self._progress: Any = None
        if not quiet:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description}"),
                BarColumn(bar_width=12), TextColumn("{task.fields[line]}"),
                TimeElapsedColumn(), console=Console(stderr=True))

    def __enter__(self) -> Display:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def stage(self, title: str, total: int = 1) -> int:
        """Start the next stage; returns its handle."""
        self._count += 1
        if self._progress is None:
            return self._count
        with self._lock:
            task: int = self._progress.add_task(
                f"[bold]{self._count}/{self.total_stages}[/] {title}", total=total, line="")
        return task

    def update(self, stage: int, completed: int, line: str) -> None:
        if self._progress is not None:
            with self._lock:
                self._progress.update(stage, completed=completed, line=line)

    def done(self, stage: int, line: str) -> None:
        if self._progress is not None:
            with self._lock:
                total = self._progress.tasks[self._index(stage)].total or 1
                self._progress.update(stage, completed=total, line=line)
                self._progress.stop_task(stage)

    def log(self, text: str) -> None:
        """Print above the progress rows (nothing when quiet)."""
        if self._progress is not None:
            with self._lock:
                self._progress.console.print(text, markup=False, highlight=False)

    def _index(self, stage: int) -> int:
        return next(i for i, t in enumerate(self._progress.tasks) if t.id == stage)
