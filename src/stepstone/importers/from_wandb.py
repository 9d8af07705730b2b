"""Import wandb run folders (offline or synced) from their ``run-<id>.wandb`` files.

A ``.wandb`` file is wandb's transaction log: a LevelDB-format log (32 KiB blocks of
framed, checksummed fragments after a 7-byte ``:W&B`` header) of protocol-buffer
``Record`` messages. The framing is read here (recent wandb releases no longer ship
the Python reader, ``wandb.sdk.internal.datastore``, that older ones had) and every
record is decoded with wandb's own ``wandb.proto.wandb_internal_pb2.Record``. The run
record gives the id, name, project, tags, notes, group and start time; config, history,
summary and exit records give the rest. Nested metric keys are joined with ``/``, as
``stepstone.log`` does; media values (images, tables, histograms: wandb writes each as a
nested value holding a ``_type``) are not metrics and are skipped whole, in the history and in
the summary, and the report says which. A ``define_metric(summary=...)`` summary (wandb
keeps ``{"min": ...}`` under the metric's name) becomes ``<name>.<kind>`` keys, as stepstone's
own ``define_metric`` writes them, and ``<name>`` keeps the last value. wandb's system
metrics (its ``stats`` records) become the ``system/*`` series stepstone's own sampler writes
(``stepstone.sdk.system``): the keys both know under stepstone's name, the others as
``system/<wandb key>``, numbered by sample and timed.
"""

from __future__ import annotations

import fnmatch
import json
import struct
import zlib
from collections.abc import Iterator
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

_HEADER = struct.Struct("<4sHB")
_FRAGMENT = struct.Struct("<IHB")
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_IDENT = b":W&B"
_MAGIC = 0xBEE1


def _proto() -> Any:
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError as exc:
        raise UsageError(
            "importing wandb runs needs wandb: pip install 'stepstone[import]'"
        ) from exc
    return wandb_internal_pb2


def read_records(path: str | Path) -> Iterator[bytes]:
    """The payloads of a ``.wandb`` file, in order; stops at a torn or corrupt tail."""
    data = Path(path).read_bytes()
    if len(data) < _HEADER.size:
        raise UsageError(f"{path} is too short to be a wandb run file")
    ident, magic, _version = _HEADER.unpack_from(data, 0)
    if ident != _IDENT or magic != _MAGIC:
        raise UsageError(f"{path} is not a wandb run file (no :W&B header)")
    pos = _HEADER.size
    pending: bytearray | None = None
    while pos + _FRAGMENT.size <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _FRAGMENT.size:  # a block trailer: skip to the next block
            pos += left
            continue
        crc, length, kind = _FRAGMENT.unpack_from(data, pos)
        if kind == 0 and length == 0:  # zero padding up to the end of the block
            pos += left
            continue
        start, end = pos + _FRAGMENT.size, pos + _FRAGMENT.size + length
        if end > len(data):
            return  # a record still being written (or cut off by a crash)
        payload = data[start:end]
        if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) & 0xFFFFFFFF != crc:
            return  # a torn write: everything before it is good
        pos = end
        if kind == _FULL:
            pending = None
            yield payload
        elif kind == _FIRST:
            pending = bytearray(payload)
        elif kind == _MIDDLE and pending is not None:
            pending += payload
        elif kind == _LAST and pending is not None:
            pending += payload
            yield bytes(pending)
            pending = None


def _key(item: Any) -> str:
    return str(item.key) if item.key else "/".join(item.nested_key)


def _value(item: Any) -> Any:
    which = item.WhichOneof("value") if "value" in type(item).DESCRIPTOR.oneofs_by_name else None
    if which == "none":
        return None
    if which in ("boolean", "integer", "number", "text"):
        return getattr(item, which)
    if which == "json":
        return json.loads(item.json)
    return json.loads(item.value_json) if item.value_json else None


def _seconds(ts: Any) -> float | None:
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return float(ts.seconds) + float(ts.nanos) / 1e9


def _flatten_metric(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Nested dicts become ``a/b`` keys; a dict with ``_type`` is a media value, kept whole."""
    if isinstance(value, dict) and "_type" not in value:
        for k, v in value.items():
            _flatten_metric(f"{prefix}/{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


_SUMMARY_KINDS = ("min", "max", "mean", "first", "last", "best")
_MB = 1024.0 * 1024.0
_STATS = {  # wandb's system metric → stepstone's, and the factor to its unit
    "cpu": ("system/proc_cpu_percent", 1.0),
    "memory_percent": ("system/memory_percent", 1.0),
    "proc.memory.rssMB": ("system/proc_rss_mb", 1.0),
    "proc.memory.availableMB": ("system/memory_available_gb", 1 / 1024.0),
    "network.sent": ("system/network_sent_mb", 1 / _MB),
    "network.recv": ("system/network_recv_mb", 1 / _MB),
    "disk.in": ("system/disk_read_mb", 1.0),
    "disk.out": ("system/disk_write_mb", 1.0),
    "disk./.usagePercent": ("system/disk_percent", 1.0),
}
_GPU_STATS = {"gpu": ("utilization_percent", 1.0), "memoryAllocated": ("memory_percent", 1.0),
              "memoryAllocatedBytes": ("memory_used_mb", 1 / _MB),
              "powerWatts": ("power_w", 1.0), "temp": ("temperature_c", 1.0)}


def system_key(key: str, value: float) -> tuple[str, float]:
    """A wandb system metric as stepstone names it (``system/...``), in stepstone's unit."""
    if key in _STATS:
        name, factor = _STATS[key]
        return name, value * factor
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "gpu" and parts[1].isdigit() and parts[2] in _GPU_STATS:
        name, factor = _GPU_STATS[parts[2]]
        return f"system/gpu/{parts[1]}/{name}", value * factor
    return f"system/{key}", value


def without_media(values: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """``values`` less every media value: a key ending in ``/_type`` marks its parent as one
    (a table, a histogram, an image), and every key under that parent goes. Returns the rest
    and the media keys."""
    media = {k[: -len("/_type")] for k in values if k.endswith("/_type")}
    media |= {k for k, v in values.items() if isinstance(v, dict) and "_type" in v}
    if not media:
        return values, media
    kept = {k: v for k, v in values.items()
            if k not in media and not any(k.startswith(m + "/") for m in media)}
    return kept, media


def _metric_summaries(record: Any, defined: dict[str, tuple[str, ...]]) -> None:
    """Note the summary kinds a ``define_metric`` record asks for, by metric name or glob."""
    metric = record.metric
    name = metric.name or metric.glob_name
    kinds = tuple(k for k in _SUMMARY_KINDS if getattr(metric.summary, k, False))
    if name and kinds:
        defined[name] = kinds


def _defined(key: str, defined: dict[str, tuple[str, ...]]) -> bool:
    return any(key == name or fnmatch.fnmatchcase(key, name) for name in defined)


def load_run(path: Path, report: ImportReport) -> ImportedRun:
    """Read one ``run-<id>.wandb`` file into an :class:`ImportedRun`."""
    pb = _proto()
    records = read_records(path)
    row: dict[str, Any] = {"kind": "adhoc"}
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    sink = Sink()
    start: float | None = None
    last_ts: float | None = None
    exit_record: Any = None
    env: dict[str, Any] = {}
    output: list[str] = []
    defined: dict[str, tuple[str, ...]] = {}  # define_metric: name or glob -> summary kinds
    stats = Sink()  # the system metrics: numbered samples, apart from the training's steps
    samples = 0
    for payload in records:
        record = pb.Record()
        try:
            record.ParseFromString(payload)
        except Exception:  # a record from a newer wandb this version cannot parse
            continue
        which = record.WhichOneof("record_type")
        if which == "run":
            run = record.run
            row.update(id=run.run_id, project=run.project or row.get("project"),
                       name=run.display_name or row.get("name") or run.run_id)
            if run.tags:
                row["tags"] = list(run.tags)
            for column, value in (("notes", run.notes), ("group_name", run.run_group),
                                  ("job_type", run.job_type), ("host", run.host)):
                if value:
                    row[column] = value
            if run.git.commit:
                row["git_commit"] = run.git.commit
            start = start or _seconds(run.start_time)
            for item in run.config.update:
                config[_key(item)] = _value(item)
        elif which == "config":
            for item in record.config.update:
                config[_key(item)] = _value(item)
            for item in record.config.remove:
                config.pop(_key(item), None)
        elif which == "history":
            values: dict[str, Any] = {}
            for item in record.history.item:
                _flatten_metric(_key(item), _value(item), values)
            step = values.pop("_step", None)
            if not isinstance(step, int):
                step = record.history.step.num
            ts = values.pop("_timestamp", None)
            runtime = values.pop("_runtime", None)
            if not isinstance(ts, (int, float)):
                base = start or 0.0
                ts = base + (runtime if isinstance(runtime, (int, float)) else 0.0)
            last_ts = float(ts)
            values, media = without_media(values)
            for key in media:
                sink.dropped[key] = sink.dropped.get(key, 0) + 1
            for key, value in values.items():
                if value is not None:
                    sink.add(key, int(step), value, float(ts))
        elif which == "summary":
            for item in record.summary.update:
                summary[_key(item)] = _value(item)
            for item in record.summary.remove:
                summary.pop(_key(item), None)
        elif which in ("output_raw", "output"):
            output.append(getattr(record, which).line)
        elif which == "metric":
            _metric_summaries(record, defined)
        elif which == "stats":
            when = _seconds(record.stats.timestamp) or last_ts or start or 0.0
            for item in record.stats.item:
                value = _value(item)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    name, number = system_key(_key(item), float(value))
                    stats.add(name, samples, number, when)
            samples += 1
        elif which == "exit":
            exit_record = record.exit
        elif which == "environment":
            environment = record.environment
            if environment.program:
                row.setdefault("command", [environment.program, *environment.args])
            if environment.root:
                row.setdefault("cwd", environment.root)
            if environment.git.commit:
                row.setdefault("git_commit", environment.git.commit)
            for name in ("python", "os", "host", "executable"):
                if getattr(environment, name):
                    env[name] = getattr(environment, name)
    run_id = row.get("id") or path.stem.removeprefix("run-")
    row["id"] = run_id
    row.setdefault("name", run_id)
    row.setdefault("project", "wandb")
    created = start if start is not None else (path.stat().st_mtime if last_ts is None else last_ts)
    row["created_at"] = created
    if env:
        row["env"] = env
    if exit_record is not None:
        code = int(exit_record.exit_code)
        row["exit_code"] = code
        row["status"] = "finished" if code == 0 else "failed"
        if code:
            row["reason"] = f"exit code {code} (imported from wandb)"
        runtime = float(exit_record.runtime or 0)
        row["ended_at"] = max(created + runtime, last_ts or created)
    else:
        row["status"] = "crashed"
        row["reason"] = ("the wandb run has no exit record: it crashed, or was still running "
                         "when it was imported")
        row["ended_at"] = last_ts or created
    config.pop("_wandb", None)
    kept = _summary(summary, defined, sink.last_values())
    steps_seen = [max(steps) for steps, _, _ in sink.series.values() if steps]
    steps_seen += [t[1] for t in sink.texts]
    if steps_seen:  # the training's last step: the system samples have their own numbers
        row["last_step"] = max(steps_seen)
    note_dropped(report, str(run_id), sink)
    logs = [("log", "output.log", "".join(output).encode("utf-8", "replace"))] if output else []
    return ImportedRun(row=row, config=config, series={**sink.series, **stats.series},
                       texts=sink.texts, summary=kept or sink.last_values(), objects=logs)


def _summary(summary: dict[str, Any], defined: dict[str, tuple[str, ...]],
             last: dict[str, Any]) -> dict[str, Any]:
    """The run's summary as stepstone keeps it: flat ``a/b`` keys, no internal ``_`` keys, no
    media, and a ``define_metric`` summary as ``<name>.<kind>`` beside ``<name>`` = last."""
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        if not key.startswith("_"):
            if isinstance(value, dict) and _defined(key, defined) and value and \
                    set(value) <= set(_SUMMARY_KINDS):
                for kind, number in value.items():
                    flat[key if kind == "last" else f"{key}.{kind}"] = number
                if key in last:
                    flat.setdefault(key, last[key])
                continue
            _flatten_metric(key, value, flat)
    kept, _media = without_media(flat)
    return kept


def find_run_files(source: str | Path) -> list[Path]:
    """Every ``run-<id>.wandb`` file at or under ``source`` (a file, a run folder, a wandb dir)."""
    root = Path(source).expanduser()
    if not root.exists():
        raise UsageError(
            f"{root} does not exist: give a wandb folder (e.g. ./wandb) or a run folder"
        )
    if root.is_file():
        if root.suffix != ".wandb":
            raise UsageError(f"{root} is not a .wandb run file")
        return [root.resolve()]
    found = {p.resolve() for p in root.rglob("run-*.wandb") if p.is_file()}
    return sorted(found)


def import_wandb(
    source: str | Path, lab: LabRef = None, *, dry_run: bool = False
) -> ImportReport:
    """Import every wandb run under ``source`` into ``lab``; runs already there are skipped."""
    _proto()
    files = find_run_files(source)
    report = ImportReport("wandb")
    if not files:
        report.notes.append(f"no run-*.wandb files under {source}")
        return report
    candidates = (
        Candidate(run_id=f.stem.removeprefix("run-"), origin=f"wandb:{f.parent}",
                  load=partial(load_run, f, report))
        for f in files
    )
    return write_candidates(lab, "wandb", candidates, dry_run=dry_run, report=report)
