"""wandb-style media: values logged with ``Run.log`` that are stored as files of the run
(role ``media``, name ``<key>@<step><suffix>``), not as metrics: ``Table``, ``Histogram``,
``Image``."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stepstone.errors import MetricValueError, UsageError

MAX_HISTOGRAM_BINS = 512


class Media:
    """A value logged with :meth:`Run.log` that is stored as a file with the run (role
    ``media``, name ``<key>@<step><suffix>``), not as a metric."""

    suffix = ".json"

    def encode(self) -> bytes:
        raise NotImplementedError


def is_media(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return bool(value) and all(isinstance(v, Media) for v in value)
    return isinstance(value, Media)


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a table cell or histogram input (numpy and torch included)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


class Table(Media):
    """``wandb.Table``: rows under named columns, stored as JSON
    (``{"columns": [...], "data": [[...], ...]}``) when logged."""

    suffix = ".table.json"

    def __init__(self, columns: Iterable[str] | None = None, data: Iterable[Any] | None = None,
                 rows: Iterable[Any] | None = None, dataframe: Any = None, **_: Any) -> None:
        if dataframe is not None:
            columns, data = list(dataframe.columns), dataframe.values.tolist()
        table = [list(row) for row in (data if data is not None else rows or [])]
        width = len(table[0]) if table else 0
        self.columns = ([str(c) for c in columns] if columns is not None
                        else [f"Column {i + 1}" for i in range(width)])
        self.data: list[list[Any]] = []
        for row in table:
            self.add_data(*row)

    def add_data(self, *row: Any) -> None:
        if len(row) != len(self.columns):
            raise UsageError(f"a table row has {len(row)} values for {len(self.columns)} "
                             f"columns ({', '.join(self.columns)}): give one value per column")
        self.data.append(list(row))

    def encode(self) -> bytes:
        return json.dumps({"columns": self.columns,
                           "data": [[_plain(v) for v in row] for row in self.data]}).encode()


class Histogram(Media):
    """``wandb.Histogram``: the counts of ``sequence`` in ``num_bins`` equal bins between its
    smallest and largest finite value (or a given ``np_histogram=(counts, edges)``), stored as
    JSON (``{"bins": edges, "counts": counts, "nonfinite": n}``) when logged."""

    suffix = ".histogram.json"

    def __init__(self, sequence: Any = None, np_histogram: Any = None, num_bins: int = 64) -> None:
        if not isinstance(num_bins, int) or not 1 <= num_bins <= MAX_HISTOGRAM_BINS:
            raise UsageError(f"num_bins must be an integer from 1 to {MAX_HISTOGRAM_BINS}, "
                             f"not {num_bins!r}")
        self.nonfinite = 0
        if np_histogram is not None:
            counts, edges = (_plain(part) for part in np_histogram)
            if len(edges) != len(counts) + 1:
                raise UsageError(f"np_histogram has {len(counts)} counts and {len(edges)} bin "
                                 "edges: give (counts, edges) with one edge more than counts")
            self.counts, self.bins = [int(c) for c in counts], [float(e) for e in edges]
        elif sequence is not None:
            self.counts, self.bins, self.nonfinite = _histogram(sequence, num_bins)
        else:
            raise UsageError("Histogram needs values: Histogram(sequence) or "
                             "Histogram(np_histogram=(counts, edges))")

    def encode(self) -> bytes:
        return json.dumps({"bins": self.bins, "counts": self.counts,
                           "nonfinite": self.nonfinite}).encode()


def _histogram(sequence: Any, bins: int) -> tuple[list[int], list[float], int]:
    """Counts and edges of the finite values, and how many were not finite: with numpy (a
    tensor of millions of values in milliseconds on the training thread), else in Python."""
    try:
        import numpy as np
    except ImportError:
        values = _floats(_plain(sequence))
        finite = [v for v in values if math.isfinite(v)]
        return (*_bin(finite, bins), len(values) - len(finite))
    data = sequence.detach().cpu().numpy() if hasattr(sequence, "detach") else sequence
    array = np.asarray(data, dtype=np.float64).ravel()
    finite_values = array[np.isfinite(array)]
    nonfinite = int(array.size - finite_values.size)
    if not finite_values.size:
        return [], [], nonfinite
    low, high = float(finite_values.min()), float(finite_values.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(finite_values, bins=bins, range=(low, high))
    return [int(c) for c in counts], [float(e) for e in edges], nonfinite


def _floats(value: Any) -> list[float]:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _floats(v)]
    return [float(value)]


def _bin(values: list[float], bins: int) -> tuple[list[int], list[float]]:
    """Counts in ``bins`` equal bins over the values' range, the last bin closed (as numpy)."""
    if not values:
        return [], []
    low, high = min(values), max(values)
    if low == high:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(int((v - low) / width), bins - 1)] += 1
    return counts, [low + i * width for i in range(bins)] + [high]


class Image(Media):
    """``wandb.Image``: a file path (stored as is), a PIL image or a matplotlib figure (stored
    as PNG), or an array (numpy H×W or H×W×C; torch C×H×W): floats in [0, 1] are scaled to
    0–255, other values clipped to 0–255, stored as PNG (needs Pillow). ``caption`` is kept
    on the object but not stored."""

    def __init__(self, data_or_path: Any, mode: str | None = None, caption: str | None = None,
                 **_: Any) -> None:
        self.caption = caption
        self.suffix = ".png"
        if isinstance(data_or_path, (str, Path)):
            path = Path(data_or_path)
            if not path.is_file():
                raise UsageError(f"cannot log the image {path}: it is not a file")
            self._data = path.read_bytes()
            self.suffix = path.suffix.lower() or ".bin"
        elif hasattr(data_or_path, "savefig"):
            buffer = io.BytesIO()
            data_or_path.savefig(buffer, format="png")
            self._data = buffer.getvalue()
        elif type(data_or_path).__module__.startswith("PIL."):
            self._data = _png(data_or_path.convert(mode) if mode else data_or_path)
        else:
            self._data = _png(_pil_of(data_or_path, mode))

    def encode(self) -> bytes:
        return self._data


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _pil_of(array: Any, mode: str | None) -> Any:
    try:
        import numpy as np
        from PIL import Image as PILImage
    except ImportError:
        raise MetricValueError("logging an array as an image needs numpy and Pillow (pip "
                               "install numpy pillow); or pass the image's file path") from None
    torch_layout = hasattr(array, "detach")
    data = np.asarray(array.detach().cpu() if torch_layout else array)
    if torch_layout and data.ndim == 3 and data.shape[0] in (1, 3, 4):
        data = data.transpose(1, 2, 0)  # torch's C×H×W to H×W×C
    if data.ndim == 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[-1] not in (3, 4)):
        raise MetricValueError(f"an image array has shape {data.shape}: give H×W, H×W×3 or "
                               "H×W×4 (numpy) or C×H×W (torch)")
    if data.dtype != np.uint8:
        data = np.nan_to_num(data.astype(float))
        if data.size and data.min() >= 0 and data.max() <= 1:
            data = data * 255
        data = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    image = PILImage.fromarray(data)
    return image.convert(mode) if mode else image
