"""The run handle: ``log``, ``config``, ``summary``, ``log_eval``, ``finish``.

``log`` is the hot path: it copies the dict, checks the values' types and puts the call
(step, time, key tuple, value tuple) on the writer's queue. Anything that is not a plain
int or float (nested dicts, numpy or torch scalars, booleans, text, wandb-style media) takes
a slower path that normalizes it first; anything that cannot be a metric raises at once.
"""

from __future__ import annotations

import fnmatch
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepstone.errors import LabError, MetricValueError, UsageError
from stepstone.sdk.artifacts import Artifact, StoredArtifact, as_artifact
from stepstone.sdk.axes import StepAxes
from stepstone.sdk.handles import Config, Summary
from stepstone.sdk.hooks import result_page
from stepstone.sdk.media import CAPTION_ROLE, Media, caption_name, is_media
from stepstone.sdk.system import Sampler, launcher_samples, start_sampler
from stepstone.sdk.writer import Op, Writer, queue_call, saving_report
from stepstone.store.artifacts import ArtifactIndex, next_number
from stepstone.store.evals import normalize_record
from stepstone.store.lab import Lab, connect
from stepstone.store.media import media_name
from stepstone.store.objects import ObjectStore

if TYPE_CHECKING:
    from stepstone.store.lab import Lab
    from stepstone.store.target import StoreTarget

MAX_OUTPUT_BYTES = 20 * 1024 * 1024
CAPTURE_TIMEOUT = 60.0  # how long a start-up capture may go on after its run's finish()
CAPTURE_PENDING = ("start-up capture (packages, git, code snapshot) had not finished when the run "
                   "ended; what it finds replaces this note, so a run that keeps it has none")
CAPTURE_LOST = ("start-up capture (packages, git, code snapshot) did not finish within {:g} s "
                "of the run's end; the run has no environment, git state or code snapshot")
_closing: list[Run] = []  # finished runs whose start-up capture has not been queued
SEED_RANGE = (-(2**63), 2**63 - 1)  # what the runs table's INTEGER column holds
SUMMARY_KINDS = ("min", "max", "mean", "first", "last", "best", "copy", "none")


def _scalar(key: str, value: Any) -> float | int | str:
    """A metric value as int, float or text, or a MetricValueError saying what to do."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        return value
    item = getattr(value, "item", None)
    if item is not None and callable(item):
        size = getattr(value, "size", None)
        numel = value.numel() if hasattr(value, "numel") else (size if isinstance(size, int) else 1)
        if numel == 1:
            try:
                inner = item()
            except Exception as exc:  # a tensor whose device failed: say which key, as bad input
                raise MetricValueError(
                    f"cannot log {key!r}: reading its value (.item()) raised "
                    f"{type(exc).__name__}: {exc}") from exc
            if type(inner) is type(value):  # numpy's longdouble: .item() gives itself back
                return float(inner)
            return _scalar(key, inner)
        raise MetricValueError(
            f"cannot log {key!r}: it holds {numel} values; log a scalar (e.g. .mean().item()) "
            "or per-example results with run.log_eval"
        )
    if value is None:
        raise MetricValueError(f"cannot log {key!r}: the value is None; log a number or text")
    raise MetricValueError(
        f"cannot log {key!r}: a {type(value).__name__} is not a number or text; "
        "log numbers, strings, or save files with run.save(path)"
    )


def normalize(data: Mapping[str, Any], prefix: str = "",
              media: dict[str, list[Media]] | None = None) -> dict[str, float | int | str]:
    """Flatten nested dicts to ``a/b`` keys and turn every value into int, float or text.

    With ``media``, a :class:`Media` value (or a list of them) is moved there instead."""
    out: dict[str, float | int | str] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise MetricValueError(f"metric names must be strings, got {key!r}")
        name = f"{prefix}/{key}" if prefix else key
        if isinstance(value, Mapping):
            out.update(normalize(value, name, media))
        elif media is not None and is_media(value):
            media[name] = list(value) if isinstance(value, (list, tuple)) else [value]
        else:
            out[name] = _scalar(name, value)
    return out


def config_seed(config: Mapping[str, Any]) -> int | None:
    """The seed a config names: an integer top-level ``seed`` the store can hold, or None."""
    seed = config.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        return None
    return seed if SEED_RANGE[0] <= seed <= SEED_RANGE[1] else None


def reported_seed(config: Mapping[str, Any]) -> int | None:
    """The run's seed: the config's integer ``seed`` (:func:`config_seed`), else, when the
    config has none and the script imported torch, ``torch.initial_seed()`` (the seed torch's
    default generator was last seeded with)."""
    seed = config.get("seed")
    torch = sys.modules.get("torch")
    if (isinstance(seed, int) and not isinstance(seed, bool)) or torch is None:
        return config_seed(config)
    try:
        return config_seed({"seed": int(torch.initial_seed())})
    except Exception:  # a broken or stub torch: no seed rather than no run
        return None


class _Tee:
    """Copies what a script prints into the run's log, up to a cap."""

    def __init__(self, stream: Any, sink: list[str], lock: threading.Lock) -> None:
        self._stream = stream
        self._sink = sink
        self._lock = lock
        self._size = 0

    def write(self, text: str) -> int:
        if self._size < MAX_OUTPUT_BYTES:
            with self._lock:
                self._sink.append(text)
            self._size += len(text)
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Run:
    """A tracked run. Made by :func:`stepstone.init`; use as a context manager to finish it."""

    def __init__(
        self, *, run_id: str, name: str, project: str, lab_root: Path | None,
        config: Mapping[str, Any], writer: Writer | None, objects: ObjectStore | None = None,
        start_step: int = 0, attached: bool = False, target: StoreTarget | None = None,
    ) -> None:
        self.id = run_id
        self._name = name
        self.project = project
        self.dir = lab_root
        self.attached = attached
        self._objects = objects
        self._target = target
        self._summaries: dict[str, tuple[str, ...]] = {}  # define_metric: pattern -> kinds
        self._axes = StepAxes()  # define_metric: step_metric
        self._artifact_versions: dict[str, int] = {}  # the next version of each name logged
        self._lab_unread = False  # the lab's versions could not be read: number on from ours
        self.summary = Summary(self)
        self._writer = writer
        self._queue = writer.queue if writer is not None else None
        self.config = Config(config, self)
        self._step = start_step
        self._pending: dict[str, Any] = {}
        self._keys: tuple[Any, ...] = ()  # the keys of the last call log() queued
        self._finished = False
        self._when_finished: Callable[[Run], None] | None = None  # set by the session
        self._capture: threading.Thread | None = None
        self._capture_lock = threading.Lock()
        self._captured = False
        self._ending = threading.Lock()  # held by finish(): the capture waits at its next step
        self._output: list[str] = []
        self._output_lock = threading.Lock()
        self._tees: list[tuple[str, Any]] = []
        self._sampler: Sampler | None = None
        if writer is not None:
            writer.summary_view = self.summary

    # -- logging --------------------------------------------------------------------------
    @property
    def step(self) -> int:
        return self._step

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Record ``data`` at ``step`` (default: the next step). No I/O happens here."""
        if self._finished:
            raise UsageError(f"run {self.id} is finished: call stepstone.init() for a new run")
        media: dict[str, list[Media]] | None = None
        values = dict(data)  # one snapshot: what is checked is what is queued
        plain = tuple(values.values())
        queued: tuple[Any, ...] | None = plain  # the value tuple to queue, None: make it anew
        for value in plain:
            kind = type(value)
            if kind is not float and kind is not int:
                media = {}
                values = normalize(data, media=media)
                queued = None
                break
        if step is None:
            step = self._step
        elif type(step) is not int:
            if not isinstance(step, int) and not (isinstance(step, float) and step.is_integer()):
                raise UsageError(f"step must be an integer, got {step!r}")
            step = int(step)
        if media:
            if self._axes.defined:  # each key where its metric would land (sdk/axes.py)
                row = {**self._pending, **values}
                for key, items in media.items():
                    self._store_media({key: items}, self._axes.place(step, row, key))
            else:
                self._store_media(media, step)
        if not commit:
            self._pending.update(values)
            return
        if self._pending:
            self._pending.update(values)
            values, self._pending = self._pending, {}
            queued = None
        queue = self._queue
        if queue is not None:
            if self._axes.defined:
                now = time.time()
                for at, row in self._axes.split(step, values).items():
                    queue_call(queue, at, now, row)
            else:  # queue_call inline: the hot path; one keys object while the keys repeat
                keys = tuple(values)
                known = self._keys
                if keys == known:
                    keys = known
                else:
                    self._keys = keys
                queue.extend((step, time.time(), keys,
                              tuple(values.values()) if queued is None else queued))
        self._step = step + 1

    def log_eval(
        self, records: Iterable[Mapping[str, Any]], name: str = "eval", step: int | None = None
    ) -> int:
        """Store per-example evaluation records; return how many were stored.

        Each record is a dict with ``id``, ``score`` and/or ``correct``, optional
        ``prediction``; every other key is a bucket field (difficulty, length, ...).
        """
        rows = [normalize_record(r, i) for i, r in enumerate(records)]
        for row in rows:
            if row[1] is not None and not math.isfinite(row[1]):
                raise MetricValueError(
                    f"evaluation record {row[0]!r} has a non-finite score {row[1]}"
                )
        self._enqueue(Op("evals", (name, step, rows)))
        return len(rows)

    def log_curve(self, knob: str, value: float, metrics: Mapping[str, Any], *,
                  train_value: float | None = None) -> int:
        """Record one point of a test-time compute curve: ``metrics`` measured with the
        inference-time ``knob`` (recursion steps, samples, context length...) at ``value``.

        Stored as evaluation records of the set ``testtime/<knob>`` at step ``value`` (one
        record per metric: id ``<metric>@<value>``, score, and the fields ``metric`` and
        ``knob_value``); ``train_value`` is the knob's value in training. Per-example records
        logged with ``log_eval(records, name="testtime/<knob>", step=value)`` make the same
        curve (their mean score, or accuracy). ``stepstone curve RUN --knob KNOB`` reads it.
        """
        if not isinstance(knob, str) or not knob or "/" in knob:
            raise UsageError(
                f"a curve knob is a plain name like steps or context_len, not {knob!r}")
        number = float(value)
        if not math.isfinite(number):
            raise MetricValueError(f"the {knob} value {value!r} is not finite")
        step = int(number) if number.is_integer() else None
        extra: dict[str, Any] = {"knob_value": number}
        if train_value is not None:
            extra["train_value"] = float(train_value)
        records = []
        for metric, score in normalize(metrics).items():
            if isinstance(score, str):
                raise MetricValueError(f"curve metric {metric!r} must be a number, not text")
            records.append({"id": f"{metric}@{number:g}", "score": float(score),
                            "metric": metric, **extra})
        return self.log_eval(records, name=f"testtime/{knob}", step=step)

    def _store_media(self, media: Mapping[str, list[Media]], step: int) -> None:
        """Store logged media as files of the run (encoded on this thread, like ``save``),
        each caption beside its file."""
        if self._objects is None:  # a disabled or unrecorded run
            return
        for key, items in media.items():
            for index, item in enumerate(items):
                name = media_name(key, step, item.suffix, index if len(items) > 1 else None)
                files = [("media", name, item.encode())]
                if item.caption is not None:
                    files.append((CAPTION_ROLE, caption_name(name),
                                  item.caption.encode("utf-8", "replace")))
                for role, stored, data in files:
                    digest = self._put(data, f"{key}@{step}")
                    if digest is None:
                        return
                    self._enqueue(Op("object", (role, stored, digest, len(data))))

    def define_metric(self, name: str, step_metric: str | None = None,
                      step_sync: bool | None = None, hidden: bool | None = None,
                      summary: str | None = None, goal: str | None = None,
                      overwrite: bool | None = None) -> None:
        """``wandb.define_metric``: ``summary="min"`` (or ``max``, ``mean``, ``first``,
        ``last``, ``best`` with ``goal="minimize"``/``"maximize"``; several with commas) adds
        ``<name>.<kind>`` to the summary when the run finishes, computed over every point of
        the metric (a trailing ``*`` in ``name`` matches many). The summary's ``<name>`` keeps
        the last value. With ``step_metric``, the matching keys are stored at the last value
        logged for the step metric (see :mod:`stepstone.sdk.axes`); the display options are
        accepted and not used."""
        if not isinstance(name, str) or not name:
            raise UsageError(f"define_metric needs a metric name, not {name!r}")
        if step_metric is not None and (not isinstance(step_metric, str) or not step_metric):
            raise UsageError(f"step_metric must be a metric name, not {step_metric!r}")
        self._axes.define(name, step_metric)
        if summary is None:
            return
        kinds = tuple(k.strip() for k in str(summary).split(",") if k.strip())
        unknown = [k for k in kinds if k not in SUMMARY_KINDS]
        if unknown:
            raise UsageError(f"summary={summary!r}: each kind is one of "
                             f"{', '.join(SUMMARY_KINDS)}")
        if "best" in kinds and goal not in ("minimize", "maximize"):
            raise UsageError("summary='best' needs goal='minimize' or goal='maximize'")
        chosen = tuple(k if k != "best" else f"best:{goal}" for k in kinds
                       if k not in ("copy", "none"))
        if chosen:
            self._summaries[name] = chosen

    def watch(self, models: Any = None, criterion: Any = None, log: str | None = "gradients",
              log_freq: int = 1000, idx: int | None = None, log_graph: bool = False) -> None:
        """``wandb.watch``: accepted and does nothing (no gradient or parameter histograms
        are recorded); log the norms you need with :meth:`log`."""

    def save(self, path: str | Path, name: str | None = None) -> str | None:
        """Store a file (a checkpoint, a plot) with the run; return its object id."""
        file = Path(path)
        if not file.is_file():
            raise UsageError(f"cannot save {file}: it is not a file")
        if self._writer is None or self._objects is None:
            return None
        try:
            digest, size = self._objects.put_file(file)
        except LabError as exc:
            self._not_saved(str(file), exc)
            return None
        self._enqueue(Op("object", ("artifact", name or file.name, digest, size)))
        return digest

    def log_artifact(self, artifact_or_path: Artifact | str | Path, name: str | None = None,
                     type: str | None = None, aliases: list[str] | None = None,
                     tags: list[str] | None = None) -> Artifact:
        """``wandb.log_artifact``: store the artifact's files as objects of the run (see
        :mod:`stepstone.sdk.artifacts`); return the artifact, its ``version`` set."""
        artifact = as_artifact(artifact_or_path, name, type)
        if self._writer is None or self._objects is None:
            return artifact
        version = self._artifact_versions.get(artifact.name, 0)
        if self._target is not None and not self._lab_unread:
            in_lab = next_version(self._target, artifact.name)
            self._lab_unread = in_lab is None
            version = max(version, in_lab or 0)
        try:
            rows = list(artifact.store(self._objects, version, aliases or ()))
        except LabError as exc:
            self._not_saved(f"artifact {artifact.name}", exc)
            return artifact
        for row in rows:
            self._enqueue(Op("object", row))
        self._artifact_versions[artifact.name] = version + 1
        return artifact

    def use_artifact(self, artifact_or_name: Artifact | StoredArtifact | str,
                     type: str | None = None, aliases: list[str] | None = None,
                     use_as: str | None = None) -> Artifact | StoredArtifact:
        """``wandb.use_artifact``: the artifact version a reference names in this lab
        (``name``, ``name:v3``, ``name:best``, ``project/name:latest``; the rule is
        :mod:`stepstone.store.artifacts`'s), recorded as an input of the run. A logged
        artifact passed in is used as it is. ``type`` must match when given; ``aliases`` and
        ``use_as`` are accepted and unused (wandb applies them to an artifact it logs here,
        and stepstone uses logged artifacts only)."""
        if self._writer is None or self._target is None or self._objects is None:
            raise UsageError(f"use_artifact({artifact_or_name!r}) needs a run that records to "
                             "a lab; this one is disabled: read it with "
                             "stepstone.Api(lab=PATH).artifact(NAME)")
        used: Artifact | StoredArtifact
        if isinstance(artifact_or_name, (Artifact, StoredArtifact)):
            used = artifact_or_name
            if type is not None and used.type != type:
                raise UsageError(f"artifact {used.name} is of type {used.type!r}, not {type!r}")
        elif isinstance(artifact_or_name, str):
            db = connect(self._target, readonly=True)
            try:
                found = ArtifactIndex(db, self._objects).resolve(artifact_or_name, type)
            finally:
                db.close()
            used = StoredArtifact(found, self._objects)
        else:
            raise UsageError(f"use_artifact takes an artifact's name or a logged Artifact, "
                             f"not {artifact_or_name.__class__.__name__}")
        self._enqueue(Op("object", used.input_row()))
        return used

    def _label(self, **_: Any) -> None:
        """wandb's integration label (``run._label(code="transformers_trainer")``): unused."""

    @property
    def url(self) -> None:
        """wandb's web address of the run: a lab run has none (as an offline wandb run)."""
        return None

    def _put(self, data: bytes, what: str) -> str | None:
        """Store a blob; on a full or read-only disk, one warning and None (never a raise into
        the training script)."""
        assert self._objects is not None
        try:
            return self._objects.put(data)
        except LabError as exc:
            self._not_saved(what, exc)
            return None

    def _not_saved(self, what: str, exc: LabError) -> None:
        print(f"stepstone: {what} is not saved with run {self.id}: {exc}", file=sys.stderr)

    @property
    def name(self) -> str:
        """The run's display name; setting it renames the run in the lab (as in wandb)."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)
        self._enqueue(Op("fields", {"name": self._name}))

    def _enqueue(self, op: Op) -> None:
        if self._queue is not None:
            self._queue.append(op)

    def _enqueue_op(self, kind: str, payload: Any) -> None:
        """Queue a change of the config or summary handles (:mod:`stepstone.sdk.handles`)."""
        self._enqueue(Op(kind, payload))

    def flush(self) -> None:
        """Block until everything logged so far is in the lab."""
        if self._writer is not None:
            self._writer.flush()

    def _start_system(self, interval: float | None) -> None:
        """Record system metrics every ``interval`` seconds until the finish (sdk/system.py)."""
        if self._writer is not None and not (self.attached and launcher_samples()):
            self._sampler = start_sampler(lambda *sample: self._enqueue(Op("system", sample)),
                                          interval, name=f"stepstone-system-{self.id}")

    # -- output capture ---------------------------------------------------------------------
    def _start_tee(self) -> None:
        for stream_name in ("stdout", "stderr"):
            stream = getattr(sys, stream_name)
            self._tees.append((stream_name, stream))
            setattr(sys, stream_name, _Tee(stream, self._output, self._output_lock))

    def _stop_tee(self) -> None:
        for stream_name, stream in self._tees:
            if isinstance(getattr(sys, stream_name), _Tee):
                setattr(sys, stream_name, stream)
        self._tees = []
        if self._output and self._objects is not None:
            with self._output_lock:
                data = "".join(self._output).encode("utf-8", "replace")
            digest = self._put(data, "the output log")
            if digest is not None:
                self._enqueue(Op("object", ("log", "output.log", digest, len(data))))

    # -- the end ------------------------------------------------------------------------------
    def finish(self, exit_code: int | None = None, quiet: bool | None = None, *,
               status: str | None = None, reason: str | None = None) -> None:
        """Flush everything, mark the run finished (or failed for a non-zero exit code), record
        its seed (:func:`reported_seed`) and write its result page in the notebook."""
        if self._finished:
            return
        self._finished = True
        with self._ending:
            self._end(exit_code, status, reason)

    def pause_for_end(self) -> None:
        """Wait while :meth:`finish` writes the run's end. The start-up capture calls it between
        its steps: a short run's end then does not queue behind the capture's work for the
        interpreter lock, and the capture goes on once the end is written."""
        with self._ending:
            pass

    def _end(self, exit_code: int | None, status: str | None, reason: str | None) -> None:
        if self._when_finished is not None:  # the module-level handles stop pointing here
            self._when_finished(self)
        if self._pending and self._queue is not None:
            queue_call(self._queue, self._step, time.time(), self._pending)
            self._pending = {}
        if status is None:
            status = "finished" if not exit_code else "failed"
            if status == "failed" and reason is None:
                reason = f"exit code {exit_code}"
        if self._sampler is not None:
            self._sampler.stop()
        self._stop_tee()
        if self._writer is None:
            return
        fields: dict[str, Any] = {"status": status, "reason": reason, "exit_code": exit_code,
                                  "ended_at": time.time()}
        seed = reported_seed(self.config.as_dict())
        if seed is not None:
            fields["seed"] = seed
        with self._capture_lock:  # never wait on the capture: mark it pending and go on
            pending = self._capture is not None and not self._captured
            if pending:  # the capture closes the writer once it has queued what it found
                fields["capture_notes"] = [CAPTURE_PENDING]
                _closing.append(self)
            self._enqueue(Op("fields", fields))
        if pending:
            self._writer.flush()
        else:
            self._writer.close()
        if not pending and (self._writer.error is not None
                            or self._writer.spooled_to is not None):
            # else the close after the capture says where the rest went
            print(f"stepstone: {saving_report(self._writer, self._target)}", file=sys.stderr)
        if self._writer.error is not None:
            return
        self._after_finish()

    def _record_capture(self, objects: Iterable[tuple[str | None, str, str, int]],
                        fields: Mapping[str, Any]) -> None:
        """Queue what the start-up capture found (its fields replace a pending mark); for a
        run that finished before, close its writer now."""
        with self._capture_lock:
            for obj in objects:
                self._enqueue(Op("object", obj))
            self._enqueue(Op("fields", dict(fields)))
            self._captured = True
            finished = self in _closing
        if finished:
            self._close_capture(lost=False)

    def _close_capture(self, *, lost: bool) -> None:
        """Close the writer of a run that finished before its capture ended: once the capture
        is queued, or with :data:`CAPTURE_LOST`'s note when it did not end in time."""
        assert self._writer is not None
        with self._capture_lock:
            if self not in _closing:  # closed already
                return
            _closing.remove(self)
            if lost:
                self._enqueue(Op("fields", {"capture_notes": [
                    CAPTURE_LOST.format(CAPTURE_TIMEOUT)]}))
        self._writer.close()
        if self._writer.error is not None or self._writer.spooled_to is not None:
            print(f"stepstone: {saving_report(self._writer, self._target)}", file=sys.stderr)

    def _after_finish(self) -> None:
        """Once the run's end is written: the ``define_metric`` summaries, then the notebook's
        result page (with the suite checks and precision lints it carries). A run launched by
        ``stepstone run`` or the launcher gets its page from them, after the process ends.
        Nothing here may break training or lose the run: a failure is a warning."""
        if self._target is None or (self.attached and not self._summaries):
            return
        step = "open the lab"
        try:
            with Lab(self._target.root, connect(self._target), self._target) as lab:
                if self._summaries:
                    step = "write its define_metric summaries"
                    lab.runs.set_summary(self.id, metric_summaries(lab, self.id, self._summaries))
                if not self.attached:
                    step = "write its result page in the notebook"
                    write = result_page()
                    if write is not None:
                        write(lab, self.id)
        except Exception as exc:
            print(f"stepstone: run {self.id} is saved, but stepstone could not {step}: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._finish_after(exc)

    def _finish_after(self, exc: BaseException | None) -> None:
        """Finish the way the code ended: cleanly, interrupted (killed), or raising (failed)."""
        if exc is None:
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.finish(status="killed", reason="interrupted (SIGINT / KeyboardInterrupt)")
        else:
            self.finish(exit_code=1, reason=f"{type(exc).__name__}: {exc}")

    def __repr__(self) -> str:
        return f"<stepstone.Run {self.id} {self.name!r} project={self.project!r}>"



def next_version(target: StoreTarget, name: str) -> int | None:
    """The lab's next number for artifact ``name`` (:func:`stepstone.store.artifacts.
    next_number`), or None with a warning when the store cannot be read (an outage must not
    stop training, nor slow each later log: the caller numbers on from its run's versions)."""
    try:
        db = connect(target, readonly=True)
        try:
            return next_number(db, name)
        finally:
            db.close()
    except Exception as exc:
        print(f"stepstone: could not read the lab's versions of artifact {name!r} ({exc}); "
              "this run numbers its artifacts on from its own versions", file=sys.stderr)
        return None


def wait_for_capture(timeout: float = CAPTURE_TIMEOUT) -> None:
    """Wait (at most ``timeout`` seconds in all) until every finished run's start-up capture is
    written. Called at exit; a process that ends before leaves its runs marked with
    :data:`CAPTURE_LOST`'s reason rather than silently without provenance."""
    deadline = time.monotonic() + timeout
    for run in list(_closing):
        if run._capture is not None:  # a capture that ends closes its run's writer itself
            run._capture.join(max(deadline - time.monotonic(), 0.0))
        run._close_capture(lost=True)  # nothing to do where it did


def metric_summaries(lab: Lab, run_id: str,
                     definitions: Mapping[str, tuple[str, ...]]) -> dict[str, float]:
    """``<key>.<kind>`` for every stored metric matching a ``define_metric`` name: min, max
    and mean over its finite points, first and last point, best by the goal."""
    keys = lab.metrics.keys(run_id)
    wanted: dict[str, list[str]] = {}
    for name, kinds in definitions.items():
        for key in keys:
            if fnmatch.fnmatchcase(key, name):
                wanted.setdefault(key, []).extend(kinds)
    out: dict[str, float] = {}
    for key, series in lab.metrics.history(run_id, list(wanted)).items():
        values = list(series.values)
        finite = [v for v in values if math.isfinite(v)]
        for kind in wanted[key]:
            name, _, goal = kind.partition(":")
            if name in ("first", "last") and values:
                out[f"{key}.{name}"] = values[0] if name == "first" else values[-1]
            elif finite and name == "mean":
                out[f"{key}.mean"] = math.fsum(finite) / len(finite)
            elif finite and name in ("min", "max", "best"):
                pick = min if name == "min" or goal == "minimize" else max
                out[f"{key}.{name}"] = pick(finite)
    return out
