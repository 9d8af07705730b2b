"""wandb-style media: values logged with ``Run.log`` that are stored as files of the run
(role ``media``, name ``<key>@<step><suffix>``), not as metrics: ``Table``, ``Histogram``,
``Image``, ``Audio``, ``Video``. The caption of an image, a sound or a video is stored
beside its file as UTF-8 text (role ``caption``, name :func:`caption_name`)."""

from __future__ import annotations

import io
import json
import math
import sys
import wave
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stepstone.errors import MetricValueError, UsageError

MAX_HISTOGRAM_BINS = 512
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg")
VIDEO_FORMATS = ("gif", "mp4", "webm", "ogg")
VIDEO_FPS = 4  # wandb's default frame rate
CAPTION_ROLE = "caption"
_said: set[str] = set()


class Media:
    """A value logged with :meth:`Run.log` that is stored as a file with the run (role
    ``media``, name ``<key>@<step><suffix>``), not as a metric."""

    suffix = ".json"
    caption: str | None = None  # what Image, Audio and Video were given, as text

    def encode(self) -> bytes:
        raise NotImplementedError


def caption_name(name: str) -> str:
    """The name of the caption stored for the media file ``name`` (role ``caption``)."""
    return f"{name}.caption.txt"


def _caption(caption: Any) -> str | None:
    """A caption as text (wandb takes any value and shows its text), None for none."""
    return None if caption is None or caption == "" else str(caption)


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
    0–255, other values clipped to 0–255, stored as PNG (needs Pillow). ``caption`` is
    stored with it (see :func:`caption_name`)."""

    def __init__(self, data_or_path: Any, mode: str | None = None, caption: str | None = None,
                 **_: Any) -> None:
        self.caption = _caption(caption)
        self.suffix = ".png"
        if isinstance(data_or_path, (str, Path)):
            self._data, self.suffix = _read("image", data_or_path, None)
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


def _read(what: str, path: str | Path, suffixes: tuple[str, ...] | None) -> tuple[bytes, str]:
    """The bytes of the file at ``path`` and its suffix (lower case), refused when it is not a
    file or its suffix is not one of ``suffixes``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffixes is not None and suffix not in suffixes:
        raise UsageError(f"cannot log {path} as {what}: give a {', '.join(suffixes)} file")
    if not path.is_file():
        raise UsageError(f"cannot log the {what} {path}: it is not a file")
    return path.read_bytes(), suffix or ".bin"


def _array(data: Any, what: str) -> Any:
    """``data`` (a numpy array, a torch tensor, nested lists) as a numpy array."""
    try:
        import numpy as np
    except ImportError:
        raise MetricValueError(f"logging an array as {what} needs numpy (pip install numpy); "
                               "or pass its file path") from None
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()
    return np.asarray(data)


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        print(f"stepstone: {message}", file=sys.stderr)


class Audio(Media):
    """``wandb.Audio``: a file path (.wav, .mp3, .flac, .ogg; stored as is) or an array of
    samples (numpy or torch; 1-D mono or 2-D samples×channels) with its ``sample_rate``,
    stored as 16-bit PCM WAV: floats in [-1, 1] scaled to ±32767 (values outside clipped, said
    once), integers taken as 16-bit samples. ``caption`` is stored with it."""

    def __init__(self, data_or_path: Any, sample_rate: int | None = None,
                 caption: str | None = None) -> None:
        self.caption = _caption(caption)
        self.sample_rate = sample_rate
        if isinstance(data_or_path, (str, Path)):
            self._data, self.suffix = _read("audio", data_or_path, AUDIO_SUFFIXES)
            return
        if (isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float))
                or not float(sample_rate).is_integer() or not 1 <= sample_rate < 2**31):
            raise UsageError("Audio of an array needs its sample rate as a positive whole "
                             f"number: Audio(samples, sample_rate=16000), not {sample_rate!r}")
        self._data, self.suffix = _wav(_array(data_or_path, "audio"), int(sample_rate)), ".wav"

    def encode(self) -> bytes:
        return self._data


def _wav(samples: Any, rate: int) -> bytes:
    import numpy as np

    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or not samples.size or samples.shape[1] > samples.shape[0]:
        raise MetricValueError(
            f"an audio array has shape {samples.shape}: give samples (1-D) or samples×channels "
            "(2-D, more samples than channels; .T turns channels×samples round)")
    if samples.dtype.kind == "f":
        samples = np.nan_to_num(samples.astype(np.float64), posinf=1.0, neginf=-1.0)
        outside = int(np.count_nonzero(np.abs(samples) > 1))
        scaled = np.rint(np.clip(samples, -1, 1) * 32767)
        limit = "[-1, 1]"
    elif samples.dtype.kind in "iub":
        scaled, limit = samples.astype(np.int64), "[-32768, 32767]"
        outside = int(np.count_nonzero((scaled < -32768) | (scaled > 32767)))
        scaled = np.clip(scaled, -32768, 32767)
    else:
        raise MetricValueError(f"an audio array of {samples.dtype} cannot be stored as sound: "
                               "give float samples in [-1, 1] or 16-bit integers")
    if outside:
        _say_once(f"Audio samples outside {limit} are clipped (said once)")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.ascontiguousarray(scaled, dtype="<i2").tobytes())
    return buffer.getvalue()


class Video(Media):
    """``wandb.Video``: a file path (.mp4, .webm, .gif, .ogg; stored as is, an .ogg as .ogv),
    a file object with its ``format``, or an array (numpy or torch) of frames T×C×H×W, or
    N×T×C×H×W (the N videos tiled into a grid), C being 1, 3 or 4 (alpha dropped), stored as
    an animated GIF at ``fps`` frames a second (default 4): floats in [0, 1] are scaled to
    0–255, other values clipped to 0–255. An array asked for as mp4, webm or ogg is stored
    as a GIF too (said once). ``caption`` is stored with it."""

    def __init__(self, data_or_path: Any, caption: str | None = None, fps: float | None = None,
                 format: str | None = None) -> None:
        self.caption = _caption(caption)
        if format is not None and format not in VIDEO_FORMATS:
            raise UsageError(f"Video format {format!r} is not one of {', '.join(VIDEO_FORMATS)}")
        if isinstance(data_or_path, (str, Path)):
            self._data, suffix = _read("video", data_or_path,
                                       tuple(f".{f}" for f in VIDEO_FORMATS))
            self.suffix = ".ogv" if suffix == ".ogg" else suffix
            return
        if hasattr(data_or_path, "read"):
            if format is None:
                raise UsageError("Video of a file object needs its format: Video(file, "
                                 f"format=...) with one of {', '.join(VIDEO_FORMATS)}")
            self._data = data_or_path.read()
            self.suffix = ".ogv" if format == "ogg" else f".{format}"
            return
        rate = VIDEO_FPS if fps is None else fps
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < math.inf:
            raise UsageError(f"Video fps must be a positive number of frames a second, "
                             f"not {fps!r}")
        frames = _frames(_array(data_or_path, "a video"))
        if format not in (None, "gif"):
            _say_once(f"a Video array asked for as {format} is stored as an animated GIF "
                      "(no video encoder is installed; said once)")
        from stepstone.sdk.gif import encode_gif

        self._data, self.suffix = encode_gif(frames, rate), ".gif"

    def encode(self) -> bytes:
        return self._data


def _frames(video: Any) -> Any:
    """T×H×W×3 uint8 frames of a T×C×H×W video, or of N×T×C×H×W videos tiled into a grid of
    ceil(sqrt(N)) columns (the empty cells black)."""
    import numpy as np

    if video.ndim == 4:
        video = video[None]
    if video.ndim != 5 or video.shape[2] not in (1, 3, 4) or not video.size:
        raise MetricValueError(
            f"a video array has shape {video.shape}: give frames T×C×H×W or N×T×C×H×W, C being "
            "1, 3 or 4, and at least one frame")
    count, time, channels, height, width = video.shape
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    if max(rows * height, columns * width) > 65535:
        raise MetricValueError(f"a video of {rows * height}×{columns * width} pixels is larger "
                               "than a GIF holds (65535 a side)")
    if video.dtype != np.uint8:
        video = np.nan_to_num(video.astype(np.float64))
        if video.min() >= 0 and video.max() <= 1:
            video = video * 255
        video = np.clip(np.rint(video), 0, 255).astype(np.uint8)
    video = video[:, :, :3] if channels != 1 else np.repeat(video, 3, axis=2)
    grid = np.zeros((rows * columns, time, 3, height, width), dtype=np.uint8)
    grid[:count] = video
    grid = grid.reshape(rows, columns, time, 3, height, width)
    return grid.transpose(2, 0, 4, 1, 5, 3).reshape(time, rows * height, columns * width, 3)
