"""``init(sync_tensorboard=True)``: what TensorBoard writers write is mirrored into the run.

The event writer of ``tensorboard`` (which ``torch.utils.tensorboard.SummaryWriter`` and
Lightning's ``TensorBoardLogger`` write through) and of ``tensorboardX``, where installed,
is patched once per process: every event it writes to its file is also read here, on the
writer's thread, and logged into the current run at the event's own step. Scalars
(``add_scalar``, ``add_scalars``) become metrics, text (``add_text``) text metrics,
histograms (``add_histogram``), images (``add_image``) and sounds (``add_audio``) files of
the run like ``stepstone.Histogram``, ``stepstone.Image`` and ``stepstone.Audio``. What
does not map (graphs, PR curves, hparams layouts...) stays in the TensorBoard files and is
named in a warning, once per kind. The event files themselves are written as before.

Keys are the tags of the run's first writer; a writer in a sub-folder of its folder
prefixes that sub-folder (``add_scalars("loss", {"train": ...})`` gives ``loss/train``, as
TensorBoard shows it), a writer elsewhere its folder's name.
"""

from __future__ import annotations

import importlib
import math
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stepstone.sdk.media import Histogram, Media
from stepstone.sdk.writer import queue_call
from stepstone.store.media import audio_suffix, image_suffix

WRITERS = ("tensorboard.summary.writer.event_file_writer", "tensorboardX.event_file_writer")

_current: Callable[[], Any] | None = None  # the session's current run
_patched: list[str] = []
_roots: dict[str, Path] = {}  # run id -> the folder of the first writer seen
_warned: set[str] = set()


class _Encoded(Media):
    """An image or a sound TensorBoard already encoded."""

    def __init__(self, data: bytes, suffix: str) -> None:
        self._data, self.suffix = data, suffix

    def encode(self) -> bytes:
        return self._data


def start(current: Callable[[], Any]) -> None:
    """Mirror TensorBoard events into ``current()`` (the session's run) from now on."""
    global _current
    _current = current
    if _patched:
        return
    for name in WRITERS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        _patch(module.EventFileWriter)
        _patched.append(name)
    if not _patched:
        _warn("missing", "sync_tensorboard=True, but neither tensorboard nor tensorboardX is "
              "installed, so there is nothing to mirror: pip install tensorboard")


def _patch(writer_class: Any) -> None:
    original = writer_class.add_event

    def add_event(self: Any, event: Any) -> None:
        original(self, event)
        try:
            mirror(self, event)
        except Exception as exc:  # mirroring must never break the writer or training
            _warn("error", f"sync_tensorboard could not mirror an event ({type(exc).__name__}: "
                  f"{exc}); it is still in the TensorBoard files")

    add_event.__doc__ = original.__doc__
    writer_class.add_event = add_event


def mirror(writer: Any, event: Any) -> None:
    """Log one TensorBoard event into the current run at the event's step."""
    run = _current() if _current is not None else None
    if run is None or run._queue is None:
        return
    if not event.HasField("summary"):
        if event.HasField("graph_def") or event.HasField("meta_graph_def"):
            _warn("graph", "sync_tensorboard: a model graph (add_graph) is not mirrored into "
                  "the run; it stays in the TensorBoard files")
        return
    step = int(event.step)
    prefix = _prefix(run.id, writer)
    values: dict[str, float | str] = {}
    media: dict[str, list[Media]] = {}
    for value in event.summary.value:
        kind = value.WhichOneof("value")
        plugin = value.metadata.plugin_data.plugin_name
        tag = _key(prefix, value.tag)
        if kind == "simple_value":
            values[tag] = float(value.simple_value)
        elif kind == "tensor" and plugin == "text":
            key = tag.removesuffix("/text_summary")
            values[key] = "\n".join(s.decode("utf-8", "replace") for s in value.tensor.string_val)
        elif kind == "tensor" and plugin in ("scalars", "") and (
                number := _number(value.tensor)) is not None:
            values[tag] = number
        elif kind == "histo":
            media[tag] = [_histogram(value.histo)]
        elif kind == "image":
            data = value.image.encoded_image_string
            media[tag] = [_Encoded(data, image_suffix(data))]
        elif kind == "audio" and (suffix := audio_suffix(value.audio.content_type)):
            media[tag] = [_Encoded(value.audio.encoded_audio_string, suffix)]
        else:
            what = plugin or kind or "an empty value"
            _warn(f"kind:{what}", f"sync_tensorboard: {what} summaries (tag {value.tag!r}) are "
                  "not mirrored into the run; they stay in the TensorBoard files")
    if media:
        run._store_media(media, step)
    if values:
        queue_call(run._queue, step, float(event.wall_time), values)


def _prefix(run_id: str, writer: Any) -> str:
    """The folder of ``writer`` relative to the run's first writer's ("" for that one)."""
    getter = getattr(writer, "get_logdir", None)
    folder = Path(str(getter() if getter is not None else "")).absolute()
    root = _roots.setdefault(run_id, folder)
    if folder == root:
        return ""
    try:
        return folder.relative_to(root).as_posix()
    except ValueError:
        return folder.name


def _key(prefix: str, tag: str) -> str:
    """``add_scalars(main, {"train": x})`` writes tag ``main`` in folder ``main_train``
    (torch) or ``main/train`` (tensorboardX): that is ``main/train``; any other sub-folder
    is a prefix."""
    if not prefix:
        return tag
    head = tag.replace("/", "_") + "_"
    if prefix.startswith(head) and "/" not in prefix:
        return f"{tag}/{prefix[len(head):]}"
    if prefix.startswith(f"{tag}/") and "/" not in prefix[len(tag) + 1:]:
        return prefix
    return f"{prefix}/{tag}"


def _number(tensor: Any) -> float | None:
    """The single number a scalar TensorProto holds, or None."""
    for field in ("float_val", "double_val", "int_val", "int64_val"):
        items: Any = getattr(tensor, field, ())
        if len(items) == 1:
            return float(items[0])
    if tensor.tensor_content and tensor.dtype in (1, 2):  # DT_FLOAT, DT_DOUBLE
        size = 4 if tensor.dtype == 1 else 8
        if len(tensor.tensor_content) == size:
            return float(struct.unpack("<f" if size == 4 else "<d", tensor.tensor_content)[0])
    return None


def _histogram(histo: Any) -> Histogram:
    """A TensorBoard HistogramProto (right bucket limits) as counts and edges."""
    limits, counts = list(histo.bucket_limit), [int(c) for c in histo.bucket]
    if not counts:
        return Histogram(np_histogram=([], [histo.min]))
    high = histo.max if math.isfinite(histo.max) else limits[-2] if len(limits) > 1 else 0.0
    limits = [min(limit, high) if abs(limit) > 1e300 else limit for limit in limits]
    edges = [min(histo.min, limits[0]), *limits]
    if counts[0] == 0 and edges[0] == edges[1]:  # TensorBoard's empty leftmost bucket
        edges, counts = edges[1:], counts[1:]
    return Histogram(np_histogram=(counts, edges))


def _warn(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        print(f"stepstone: {message}", file=sys.stderr)

