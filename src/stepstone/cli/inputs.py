"""What the command line reads from files a user names: tables (CSV, TSV, Parquet) of
scaling points and numpy arrays. Each bad file gets one clear :class:`UsageError`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepstone.errors import UsageError
from stepstone.method.selection import C_KEY, D_KEY, N_KEY, ScalingPoints, Selection, scaling_points
from stepstone.store.runs import RunRecord

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def read_table(path: str | Path) -> dict[str, list[Any]]:
    """A CSV or Parquet file as columns (name -> values)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"no file {p}")
    if p.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise UsageError("reading Parquet needs pyarrow: pip install pyarrow") from exc
        table: dict[str, list[Any]] = pq.read_table(p).to_pydict()
        return table
    if p.suffix.lower() not in (".csv", ".tsv"):
        raise UsageError(f"{p.name}: give a .csv or .parquet file")
    import csv

    with p.open(newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
        rows = list(reader)
        cols: dict[str, list[Any]] = {name: [] for name in reader.fieldnames or []}
    for row in rows:
        for name in cols:
            cols[name].append(row.get(name))
    return cols


def points_from_file(
    path: str | Path, *, n_col: str | None = "n_params", d_col: str | None = "tokens",
    c_col: str | None = "flops", loss_col: str = "loss", need_nd: bool = False,
) -> ScalingPoints:
    """Scaling points from a CSV/Parquet file (one row per run; C = 6·N·D when no C column)."""
    cols = read_table(path)
    if loss_col not in cols:
        raise UsageError(f"{Path(path).name} has no column {loss_col!r}; name it with --loss-col "
                         f"(columns: {', '.join(cols)})")
    have_c = bool(c_col) and c_col in cols
    missing = [f"{flag} {col!r}" for flag, col in (("--n-col", n_col), ("--d-col", d_col))
               if col and col not in cols and (need_nd or not have_c)]
    if missing:
        raise UsageError(f"{Path(path).name} has no column {' or '.join(missing)}: name the "
                         f"columns of N and D (columns: {', '.join(cols)})")
    records = [{k: cols[k][i] for k in cols} for i in range(len(cols[loss_col]))]
    keys = {N_KEY: n_col, D_KEY: d_col, C_KEY: c_col}
    runs = []
    for i, row in enumerate(records):
        summary: dict[str, Any] = {"loss": _float(row.get(loss_col))}
        for key, col in keys.items():
            if col and col in row:
                summary[key] = _float(row[col])
        runs.append(RunRecord(id=f"row{i + 1}", name=f"row{i + 1}", project="", status="finished",
                              created_at=0.0, summary=summary))
    return scaling_points(Selection(f"file:{path}", runs), "loss", need_nd=need_nd)


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def load_array(path: str | Path) -> npt.NDArray[np.float64]:
    """A numpy array file (``.npy``, or the first array of an ``.npz``) as float64."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"no file {p}")
    try:
        loaded = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UsageError(f"{p.name} is not a numpy array file: {exc}") from exc
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if not loaded.files:
                raise UsageError(f"{p.name} holds no arrays")
            arr = loaded[loaded.files[0]]
    else:
        arr = loaded
    try:
        out: npt.NDArray[np.float64] = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{p.name} does not hold numbers") from exc
    return out
