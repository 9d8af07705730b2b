"""Import TensorBoard logs through TensorBoard's own ``EventAccumulator``.

A TensorBoard run is a folder holding event files (``events.out.tfevents.*``); each
becomes a stepstone run. Scalars (``add_scalar``, and TF2 ``tf.summary.scalar``
tensors) become metric series with their steps and wall times, text summaries become
text metrics, images (``add_image``, ``add_images``) and sounds (``add_audio``) become
media files of the run named as the live mirror (``sync_tensorboard=True``) names them
(``tag@step.png``, ``tag@step.wav``), and hyperparameters written with ``add_hparams``
become the config.
The sub-folders that PyTorch's ``SummaryWriter.add_scalars`` and ``add_hparams`` make
(written by the same process as their parent, as the event files' names say) are
folded back into the parent run, as ``main_tag/tag`` metrics and config.

TensorBoard has no run ids: a run's id is derived from the name of its first event
file (which holds its creation time, host and process id), so it stays the same when
the folder moves and importing twice duplicates nothing. TensorBoard records no end
state either, so imported runs are ``finished``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from stepstone.errors import UsageError
from stepstone.importers._common import (
    Candidate,
    ImportReport,
    LabRef,
    Sink,
    note_dropped,
    write_candidates,
)
from stepstone.store.imports import ImportedRun
from stepstone.store.media import audio_suffix, image_suffix

_EVENT_NAME = re.compile(r"events\.out\.tfevents\.(?P<time>\d+)\.(?P<host>.+)\.(?P<pid>\d+)\.\d+")


@dataclass(frozen=True)
class _Folder:
    path: Path
    files: tuple[Path, ...]

    @property
    def writers(self) -> set[tuple[str, str]]:
        out = set()
        for f in self.files:
            m = _EVENT_NAME.match(f.name)
            if m:
                out.add((m["host"], m["pid"]))
        return out


def _accumulator(path: Path) -> Any:
    try:
        from tensorboard.backend.event_processing import event_accumulator as ea
    except ImportError as exc:
        raise UsageError(
            "importing TensorBoard logs needs tensorboard: pip install 'stepstone[import]'"
        ) from exc
    acc = ea.EventAccumulator(str(path), size_guidance={
        ea.SCALARS: 0, ea.TENSORS: 0, ea.IMAGES: 0, ea.AUDIO: 0, ea.HISTOGRAMS: 1,
        ea.COMPRESSED_HISTOGRAMS: 1,
    })
    acc.Reload()
    return acc


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def _hparams(acc: Any) -> dict[str, Any]:
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:
        return {}
    from tensorboard.plugins.hparams import plugin_data_pb2

    out: dict[str, Any] = {}
    for blob in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(blob)
        if not data.HasField("session_start_info"):
            continue
        for name, value in data.session_start_info.hparams.items():
            kind = value.WhichOneof("kind")
            if kind == "number_value":
                out[name] = _number(value.number_value)
            elif kind == "string_value":
                out[name] = value.string_value
            elif kind == "bool_value":
                out[name] = value.bool_value
    return out


def _read(acc: Any, sink: Sink, rename: Any = None) -> tuple[float | None, float | None]:
    """Put every scalar and text point, image and sound of ``acc`` into ``sink``; return
    (first, last) times."""
    from tensorboard.util import tensor_util

    first: float | None = None
    last: float | None = None
    tags = acc.Tags()

    def seen(ts: float) -> None:
        nonlocal first, last
        first = ts if first is None else min(first, ts)
        last = ts if last is None else max(last, ts)

    for tag in tags.get("scalars", []):
        key = rename(tag) if rename else tag
        for ev in acc.Scalars(tag):
            sink.add(key, ev.step, float(ev.value), ev.wall_time)
            seen(ev.wall_time)
    for tag in tags.get("tensors", []):
        plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
        key = rename(tag) if rename else tag
        if plugin == "text" and key.endswith("/text_summary"):
            key = key[: -len("/text_summary")]
        for ev in acc.Tensors(tag):
            array = tensor_util.make_ndarray(ev.tensor_proto)
            if plugin == "scalars" and array.size == 1:
                sink.add(key, ev.step, float(array.reshape(-1)[0]), ev.wall_time)
            elif plugin == "text" and array.size >= 1:
                item = array.reshape(-1)[0]
                text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
                sink.add(key, ev.step, text, ev.wall_time)
            else:
                sink.dropped[key] = sink.dropped.get(key, 0) + 1
                continue
            seen(ev.wall_time)
    for tag in tags.get("images", []):
        key = rename(tag) if rename else tag
        for image in acc.Images(tag):
            data = image.encoded_image_string
            sink.add_media(key, image.step, image_suffix(data), data)
            seen(image.wall_time)
    for tag in tags.get("audio", []):
        key = rename(tag) if rename else tag
        for sound in acc.Audio(tag):
            suffix = audio_suffix(sound.content_type)
            if suffix is None:  # a sound no browser plays
                sink.dropped[key] = sink.dropped.get(key, 0) + 1
                continue
            sink.add_media(key, sound.step, suffix, sound.encoded_audio_string)
            seen(sound.wall_time)
    for tag in tags.get("histograms", []):
        sink.dropped[f"{tag} (histograms)"] = 1
    return first, last


def find_runs(source: str | Path) -> list[_Folder]:
    """Folders under ``source`` that hold event files, parents before children."""
    root = Path(source).expanduser()
    if not root.exists():
        raise UsageError(f"{root} does not exist: give a TensorBoard log folder (e.g. ./runs)")
    if root.is_file():
        root = root.parent
    by_dir: dict[Path, list[Path]] = {}
    for f in root.rglob("*tfevents*"):
        if f.is_file():
            by_dir.setdefault(f.parent.resolve(), []).append(f)
    return [_Folder(d, tuple(sorted(files, key=lambda p: p.name)))
            for d, files in sorted(by_dir.items(), key=lambda kv: (len(kv[0].parts), kv[0]))]


def _children(folder: _Folder, folders: list[_Folder]) -> list[_Folder]:
    """Direct sub-folders written by the same process (``add_scalars`` and ``add_hparams``)."""
    writers = folder.writers
    return [f for f in folders
            if f.path.parent == folder.path and writers and f.writers and f.writers <= writers]


def run_id_of(folder: _Folder) -> str:
    """A stable id from the first event file's name (creation time, host, process)."""
    return "tb" + hashlib.sha256(folder.files[0].name.encode()).hexdigest()[:10]


def load_run(folder: _Folder, children: list[_Folder], root: Path, project: str,
             report: ImportReport) -> ImportedRun:
    """One TensorBoard run folder (and the sub-folders folded into it)."""
    sink = Sink()
    acc = _accumulator(folder.path)
    first, last = _read(acc, sink)
    config = _hparams(acc)
    for child in children:
        child_acc = _accumulator(child.path)
        child_tags = child_acc.Tags().get("scalars", [])
        main = child_tags[0] if len(child_tags) == 1 else None
        prefix = main.replace("/", "_") + "_" if main else ""

        def rename(tag: str, main: str | None = main, prefix: str = prefix,
                   name: str = child.path.name) -> str:
            if main is not None and tag == main and name.startswith(prefix):
                return f"{main}/{name[len(prefix):]}"
            return tag

        c_first, c_last = _read(child_acc, sink, rename)
        for key, value in _hparams(child_acc).items():
            config.setdefault(key, value)
        first = c_first if first is None else min(first, c_first or first)
        last = c_last if last is None else max(last, c_last or last)
    try:
        first_event = float(acc.FirstEventTimestamp())
    except ValueError:  # no events at all
        first_event = folder.files[0].stat().st_mtime
    created = min(first_event, first) if first is not None else first_event
    rel = folder.path.relative_to(root) if folder.path != root else Path(root.name)
    run_id = run_id_of(folder)
    row: dict[str, Any] = {
        "id": run_id, "name": rel.as_posix(), "project": project, "kind": "adhoc",
        "status": "finished", "created_at": created, "ended_at": last or created,
        "reason": "imported from TensorBoard, which records no end state",
    }
    m = _EVENT_NAME.match(folder.files[0].name)
    if m:
        row["host"] = m["host"]
    note_dropped(report, run_id, sink)
    return ImportedRun(row=row, config=config, series=sink.series, texts=sink.texts,
                       summary=sink.last_values(), objects=sink.objects)


def import_tensorboard(
    source: str | Path, lab: LabRef = None, *, project: str | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import every TensorBoard run under ``source`` into ``lab``, skipping those already there."""
    root = Path(source).expanduser().resolve()
    folders = find_runs(root)
    if root.is_file():
        root = root.parent
    report = ImportReport("tensorboard")
    if not folders:
        report.notes.append(f"no TensorBoard event files under {source}")
        return report
    folded: set[Path] = set()
    plan: list[tuple[_Folder, list[_Folder]]] = []
    for folder in folders:
        if folder.path in folded:
            continue
        children = _children(folder, folders)
        folded.update(c.path for c in children)
        plan.append((folder, children))
    name = project or root.name or "tensorboard"
    candidates = (
        Candidate(run_id=run_id_of(folder), origin=f"tensorboard:{folder.path}",
                  load=partial(load_run, folder, children, root, name, report))
        for folder, children in plan
    )
    return write_candidates(lab, "tensorboard", candidates, dry_run=dry_run, report=report)
