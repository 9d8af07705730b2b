"""A list of runs, as :meth:`Api.runs` returns it, with tables of them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from stepstone.api._display import MAX_HTML_ROWS, html_table
from stepstone.api._frames import check_format, convert, pandas_module, runs_frame
from stepstone.api._run import Run
from stepstone.display import when


class Runs(Sequence[Run]):
    """A list of runs (what :meth:`Api.runs` returns), with tables of them."""

    def __init__(self, runs: list[Run]) -> None:
        self._runs = runs

    @overload
    def __getitem__(self, index: int) -> Run: ...

    @overload
    def __getitem__(self, index: slice) -> Runs: ...

    def __getitem__(self, index: int | slice) -> Run | Runs:
        if isinstance(index, slice):
            return Runs(self._runs[index])
        return self._runs[index]

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(self._runs)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self._runs]

    def to_frame(self, format: str = "pandas") -> Any:
        """One row per run (see :meth:`Api.runs_frame`)."""
        return runs_frame([r.record for r in self._runs], format)

    def histories(self, keys: Sequence[str] | None = None, samples: int | None = None,
                  format: str = "pandas", x_axis: str = "_step",
                  stream: str = "default") -> Any:
        """Every run's :meth:`Run.history`, stacked, with a ``run_id`` column first
        (``format="default"``, wandb's name, is pandas)."""
        format = "pandas" if format == "default" else format
        check_format(format)
        pd = pandas_module()
        frames = []
        for run in self._runs:
            frame = run.history(samples=samples, keys=keys, x_axis=x_axis, stream=stream)
            frame.insert(0, "run_id", run.id)
            frames.append(frame)
        stacked = (pd.concat(frames, ignore_index=True) if frames
                   else pd.DataFrame(columns=["run_id", "_step", "_runtime", "_timestamp"]))
        return convert(stacked, format)

    def __repr__(self) -> str:
        return f"<stepstone.api.Runs of {len(self)} runs>"

    def _repr_html_(self) -> str:
        runs = self._runs
        keys: list[str] = []
        for run in runs[:MAX_HTML_ROWS]:
            for key, value in run.summary.items():
                if key not in keys and isinstance(value, (int, float)) and len(keys) < 4:
                    keys.append(key)
        rows = []
        for run in runs[:MAX_HTML_ROWS]:
            r = run.record
            row: dict[str, Any] = {
                "id": r.id, "name": r.name, "project": r.project, "status": r.status,
                "question": r.question_id, "baseline": r.baseline, "tags": r.tags,
                "created": when(r.created_at),
            }
            row.update({k: run.summary.get(k) for k in keys})
            rows.append(row)
        columns = ["id", "name", "project", "status", "question", "baseline", "tags", "created",
                   *keys]
        return html_table(rows, columns, caption=f"{len(runs)} runs", total=len(runs))
