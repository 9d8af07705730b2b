"""``init()``: make or resume a run, and the process-level hooks around it.

The current run lives here; ``stepstone.run``, ``stepstone.config`` and
``stepstone.summary`` are pointed at it so that ``import stepstone as wandb``
works. At exit, on an uncaught exception and on SIGTERM the run is flushed and
marked finished, failed or killed with the reason, and its result page is written
in the notebook (see :meth:`Run.finish`).
"""

from __future__ import annotations

import atexit
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from stepstone.configs import flatten
from stepstone.errors import LabError, StoreUnreachableError, UsageError
from stepstone.sdk import tensorboard_sync
from stepstone.sdk.handles import Config, Summary, as_mapping
from stepstone.sdk.hooks import result_page
from stepstone.sdk.lints import check_config
from stepstone.sdk.origin import hydra_info, hydra_outputs, launch_dir, script_dir
from stepstone.sdk.run import Run, config_seed, wait_for_capture
from stepstone.sdk.system import sampling_interval, wandb_stats_setting
from stepstone.sdk.writer import DEFAULT_INTERVAL, Writer
from stepstone.store.batches import copy_of_run
from stepstone.store.db import SQLITE, Database, is_postgres_url
from stepstone.store.lab import connect, create_local_lab, init_lab
from stepstone.store.runs import RunRecord, Runs, this_host
from stepstone.store.target import (
    LAB_DIRNAME,
    StoreTarget,
    is_lab_folder,
    offline_target,
    open_objects,
    spool_targets,
    target_of_folder,
    target_of_url,
)

_ADJECTIVES = ("brisk", "calm", "dapper", "eager", "fancy", "gentle", "hardy", "jolly", "keen",
               "lively", "mellow", "nimble", "plucky", "quiet", "rapid", "steady", "tidy", "vivid",
               "witty", "zesty")
_NOUNS = ("otter", "heron", "maple", "comet", "delta", "ember", "fjord", "grove", "harbor",
          "island", "lagoon", "meadow", "nebula", "orchid", "pebble", "quartz", "ridge", "summit",
          "tundra", "willow")
_WANDB_OPTIONS = {"entity", "reinit", "settings", "anonymous", "allow_val_change", "magic",
                  "config_exclude_keys", "config_include_keys", "sync_tensorboard", "monitor_gym",
                  "save_code", "force", "tensorboard", "fork_from", "resume_from"}
# accepted, but what they ask for is not done: a warning, once per process, when given
_IGNORED_OPTIONS = {"monitor_gym": "gym videos are not recorded",
                    "magic": "nothing is logged automatically",
                    "fork_from": "runs are not forked", "resume_from": "runs are not rewound",
                    "settings": "these wandb settings do not apply to a lab"}
_USED_SETTINGS = ("x_disable_stats", "_disable_stats", "x_stats_sampling_interval")  # read by
# stepstone.sdk.system.wandb_stats_setting
_RESUME_MODES = (None, True, False, "allow", "must", "never", "auto")
_warned_options: set[str] = set()

_current: Run | None = None
_hooks_installed = False
_exception: BaseException | None = None
_previous_sigterm: Any = None
_terminating = False  # a SIGTERM is finishing the run now: one arriving meanwhile waits


def new_run_id() -> str:
    """An 8-character base-36 id, like wandb's."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    value = int.from_bytes(os.urandom(16), "big")
    return "".join(alphabet[(value >> (5 * i)) % 36] for i in range(8))


def new_run_name(run_id: str) -> str:
    rng = random.Random(run_id)
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{run_id[:4]}"


class StartOptions(NamedTuple):
    """What ``init()`` was asked for: its arguments and the ``STEPSTONE_*`` environment, read
    once and checked by :meth:`read`, so that bad input is refused before anything is made.
    (This and :class:`_Begun` are named tuples: Python makes a dataclass several times more
    slowly, at the import that every run's first ``init()`` pays.)"""

    project: str
    name: str | None
    config: Mapping[str, Any]  # the script's, with wandb's include/exclude keys applied
    tags: tuple[str, ...]
    notes: str | None
    group: str | None
    job_type: str | None
    kind: str
    question: str | None
    baseline: str | None  # as given: a tier (``small``) or a version (``small@2026-11-21``)
    run_id: str | None  # ``id=``
    resume: bool | str | None
    mode: str  # online, offline or disabled (wandb's "shared" is online)
    lab: str | Path | None  # ``lab=``, else STEPSTONE_LAB
    store: str | None  # STEPSTONE_STORE
    dir: str | Path | None
    launcher_run: str | None  # STEPSTONE_RUN_ID: the run a launcher made for this process
    flush_interval: float
    system_interval: float | None  # seconds between system samples; None: off
    save_code: bool
    sync_tensorboard: bool

    @classmethod
    def read(
        cls, *, project: str | None, name: str | None, config: Any, tags: Sequence[str] | None,
        notes: str | None, group: str | None, job_type: str | None, dir: str | Path | None,
        resume: bool | str | None, id: str | None, mode: str | None, lab: str | Path | None,
        kind: str | None, question: str | None, baseline: str | None, flush_interval: float,
        system_metrics: float | bool | None, wandb_options: Mapping[str, Any],
        environ: Mapping[str, str] = os.environ,
    ) -> StartOptions:
        """The options of one ``init()`` call; a TypeError for an unknown keyword and a
        UsageError, saying what to give instead, for a value no run can start with."""
        unknown = set(wandb_options) - _WANDB_OPTIONS
        if unknown:
            raise TypeError("init() got unexpected keyword arguments: "
                            f"{', '.join(sorted(unknown))}")
        mode = mode or environ.get("STEPSTONE_MODE") or "online"
        if mode not in ("online", "offline", "disabled", "shared"):
            raise UsageError(f"mode must be 'online', 'offline' or 'disabled', not {mode!r}")
        if resume not in _RESUME_MODES:
            raise UsageError(f"resume must be 'allow', 'must', 'never', 'auto', True or False, "
                             f"not {resume!r}")
        if system_metrics is None:
            system_metrics = wandb_stats_setting(wandb_options.get("settings"))
        return cls(
            project=project or environ.get("STEPSTONE_PROJECT") or _default_project(),
            name=name,
            config=_pick_keys(as_mapping(config) if config is not None else {},
                              wandb_options.get("config_include_keys"),
                              wandb_options.get("config_exclude_keys")),
            tags=tuple(tags or ()), notes=notes, group=group, job_type=job_type,
            kind=kind or "adhoc", question=question, baseline=baseline, run_id=id,
            resume=resume, mode=mode, lab=lab or environ.get("STEPSTONE_LAB") or None,
            store=environ.get("STEPSTONE_STORE") or None, dir=dir,
            launcher_run=environ.get("STEPSTONE_RUN_ID") or None,
            flush_interval=flush_interval,
            system_interval=sampling_interval(system_metrics, environ),
            save_code=wandb_options.get("save_code", True) is not False,
            sync_tensorboard=bool(wandb_options.get("sync_tensorboard")
                                  or wandb_options.get("tensorboard")),
        )


def init(
    project: str | None = None,
    name: str | None = None,
    config: Any = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    dir: str | Path | None = None,
    resume: bool | str | None = None,
    id: str | None = None,
    mode: str | None = None,
    *,
    lab: str | Path | None = None,
    kind: str | None = None,
    question: str | None = None,
    baseline: str | None = None,
    flush_interval: float = DEFAULT_INTERVAL,
    system_metrics: float | bool | None = None,
    **wandb_options: Any,
) -> Run:
    """Start (or resume) a run and make it the current one.

    Shaped like ``wandb.init``: ``project``, ``name``, ``config``, ``tags``, ``notes``,
    ``group``, ``job_type``, ``dir`` (where a new lab is made when no lab is found upward from
    where the program started or from ``dir``), ``resume``
    (``"allow"``, ``"must"``, ``"never"`` or True) with ``id``, and ``mode``: ``"online"``
    writes to the lab, ``"offline"`` to a local lab even when the lab is a team store (copy it in
    later with ``stepstone sync``), ``"disabled"`` records nothing. A team store that cannot be
    reached is treated as ``"offline"``, with a note: no run is lost to a network outage.
    ``system_metrics`` is the seconds between samples of CPU, memory, disk, network and GPU
    use (default 10, or ``STEPSTONE_SYSTEM_METRICS``); ``False`` turns the sampler off.
    ``question`` and ``baseline`` link a new run; a baseline tier (``"small"``) is recorded as
    its newest version, the one the run starts from.
    """
    opts = StartOptions.read(
        project=project, name=name, config=config, tags=tags, notes=notes, group=group,
        job_type=job_type, dir=dir, resume=resume, id=id, mode=mode, lab=lab, kind=kind,
        question=question, baseline=baseline, flush_interval=flush_interval,
        system_metrics=system_metrics, wandb_options=wandb_options)
    _warn_ignored(wandb_options)
    if opts.sync_tensorboard:
        tensorboard_sync.start(current)
    if _current is not None:
        _current.finish()
    if opts.mode == "disabled":
        return _activate(_unrecorded(opts, "disabled"))
    try:
        return _start(opts)
    except LabError as exc:
        print(f"stepstone: {exc}. This run is NOT being recorded; training goes on.",
              file=sys.stderr)
        return _activate(_unrecorded(opts, "unrecorded"))


def _unrecorded(opts: StartOptions, placeholder: str) -> Run:
    """A run handle that records nothing (``mode="disabled"``, or a lab that cannot be used)."""
    return Run(run_id=opts.run_id or new_run_id(), name=opts.name or placeholder,
               project=opts.project, lab_root=None, config=opts.config, writer=None)


def _warn_ignored(options: Mapping[str, Any]) -> None:
    """One warning per ignored wandb option given (not None, False or empty)."""
    for option, why in _IGNORED_OPTIONS.items():
        value = options.get(option)
        given = bool(value)
        if option == "settings" and value is not None:
            fields = value if isinstance(value, Mapping) else vars(value)
            unused = sorted(k for k, v in fields.items() if k not in _USED_SETTINGS
                            and v is not None)
            given = bool(unused)
            why = f"{why} ({', '.join(unused[:5])}{', ...' if len(unused) > 5 else ''})"
        if given and option not in _warned_options:
            _warned_options.add(option)
            print(f"stepstone: warning: init({option}=...) is ignored: {why}", file=sys.stderr)


def _pick_keys(config: dict[str, Any], include: Sequence[str] | None,
               exclude: Sequence[str] | None) -> dict[str, Any]:
    """wandb's ``config_include_keys`` / ``config_exclude_keys``."""
    if include:
        config = {k: v for k, v in config.items() if k in set(include)}
    if exclude:
        config = {k: v for k, v in config.items() if k not in set(exclude)}
    return config


def _default_project() -> str:
    main = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    return Path(main).stem if main else launch_dir().name or "default"


# -- start-up: open the lab, then attach, resume or create, then the run's handle -------------
class _Begun(NamedTuple):
    """The run that attach, resume or create left in the lab, as the handle needs it."""

    run_id: str
    name: str
    project: str
    config: dict[str, Any]
    start_step: int = 0
    attached: bool = False
    notes: tuple[str, ...] = ()  # for the run's capture notes


def _start(opts: StartOptions) -> Run:
    target, db = _connect(opts)
    try:
        if _attaches(opts, db):
            begun = _attach(opts, db)
        elif opts.run_id is not None and Runs(db).exists(opts.run_id):
            begun = _resume(opts, db)
        else:
            begun = _create(opts, db, target)
        # a SQLite lab's connection goes on as the writer's: closed, as the lab's last one, it
        # would checkpoint the log (two syncs), and the writer would open another (a team
        # store's is closed: the writer connects on its own thread)
        handed = db if db.dialect is SQLITE else None
        writer = Writer(target.database, begun.run_id, interval=opts.flush_interval,
                        run_copy=copy_of_run(db, begun.run_id),  # what a spool needs
                        spools=spool_targets(target), lab=target.location, db=handed)
    except BaseException:
        db.close()
        raise
    if handed is None:
        db.close()
    writer.start()
    return _activate(_handle(opts, target, begun, writer))


def _connect(opts: StartOptions) -> tuple[StoreTarget, Database]:
    """The store the run is recorded in, open: a local lab in place of a team store offline."""
    target = _lab_root(opts)
    if opts.mode == "offline" and target.is_postgres:
        target = _offline(target, None)
    try:
        return target, connect(target)  # an embedded lab is upgraded; a team store is checked
    except StoreUnreachableError as exc:
        target = _offline(target, exc)
        return target, connect(target)


def _lab_root(opts: StartOptions) -> StoreTarget:
    """The store to write to (``lab``, ``STEPSTONE_LAB``, ``STEPSTONE_STORE``, the nearest lab
    upward from where the program started, then from ``dir``); a local lab is made on the spot
    (in ``dir`` when given, with a note) when none exists yet. ``dir`` is where wandb would
    write its files (Lightning's WandbLogger passes ``"."``), not a lab of its own."""
    if opts.lab and is_postgres_url(str(opts.lab)):
        return target_of_url(str(opts.lab))
    start = launch_dir()  # where the program started (a Hydra app may have moved since)
    if opts.lab:
        path = start / Path(opts.lab).expanduser()
        root = path if path.name == LAB_DIRNAME else path / LAB_DIRNAME
        if not is_lab_folder(root):
            init_lab(root)
        return target_of_folder(root.resolve())
    if opts.store:
        return target_of_url(opts.store)
    here = start.resolve()
    wanted = (start / Path(opts.dir).expanduser()).resolve() if opts.dir is not None else here
    for folder in (here, *here.parents, wanted, *wanted.parents):
        if is_lab_folder(folder / LAB_DIRNAME):
            return target_of_folder(folder / LAB_DIRNAME)
    root = init_lab(wanted)
    print(f"stepstone: created a lab at {root} (run `stepstone status` there to see runs)",
          file=sys.stderr)
    return target_of_folder(root)


def _offline(team: StoreTarget, why: StoreUnreachableError | None) -> StoreTarget:
    """The local lab that records runs for ``team`` while it is offline, made if need be."""
    spool = offline_target(team)
    assert spool.root is not None
    create_local_lab(spool.root)
    if why is not None:
        again = (f"stepstone sync --lab {spool.root.parent}" if team.root is not None
                 else f"STEPSTONE_STORE=... stepstone sync --lab {spool.root.parent}")
        print(f"stepstone: {why}. Recording this run in the local lab {spool.root} instead; "
              f"copy it into the store when it is back: `{again}`", file=sys.stderr)
    return spool


def _attaches(opts: StartOptions, db: Database) -> bool:
    """Whether this process joins the run a launcher made for it: ``STEPSTONE_RUN_ID`` names a
    run of the lab and ``id=`` names no other."""
    launched = opts.launcher_run
    return (launched is not None and Runs(db).exists(launched)
            and opts.run_id in (None, launched))


def _attach(opts: StartOptions, db: Database) -> _Begun:
    """Join the launcher's run: the launcher's config wins over the script's, the script's
    tags are added, its notes kept, and its name replaces a name the launcher generated."""
    runs = Runs(db)
    run_id = str(opts.launcher_run)
    record = runs.get(run_id)
    config = {**opts.config, **record.config}
    notes = _disagreements(opts.config, record.config) if hydra_info() is not None else []
    runs.write_config(run_id, config, own_transaction=True)
    extra: dict[str, Any] = {"status": "running"}
    if opts.tags:
        extra["tags"] = sorted(set(record.tags) | set(opts.tags))
    if opts.notes:
        extra["notes"] = opts.notes
    if opts.name and (record.name.startswith("run-") or record.name == new_run_name(run_id)):
        # the launcher's generated name: the script's own wins (a --name does not)
        extra["name"] = opts.name
    runs.update(run_id, **extra)
    return _Begun(run_id=run_id, name=str(extra.get("name", record.name)),
                  project=record.project, config=config, start_step=_next_step(record),
                  attached=True, notes=tuple(notes))


def _resume(opts: StartOptions, db: Database) -> _Begun:
    """Continue the run ``id=`` names where its steps left off (``resume=`` must allow it);
    the script's config is laid over the run's."""
    run_id = str(opts.run_id)
    if opts.resume in (None, False, "never"):
        raise UsageError(f"run {run_id} already exists: pass resume='allow' to continue it, "
                         "or drop id= to start a new run")
    runs = Runs(db)
    record = runs.get(run_id)
    config = {**record.config, **opts.config}
    runs.write_config(run_id, config, own_transaction=True)
    runs.update(run_id, status="running", reason=None, ended_at=None, exit_code=None,
                pid=os.getpid(), host=this_host(), heartbeat_at=time.time())
    return _Begun(run_id=run_id, name=record.name, project=record.project, config=config,
                  start_step=_next_step(record))


def _create(opts: StartOptions, db: Database, target: StoreTarget) -> _Begun:
    """A new run, linked to its question and to the baseline version it starts from."""
    if opts.resume == "must":
        raise UsageError(
            f"resume='must' but there is no run {opts.run_id!r} in {target.describe()}")
    run_id = opts.run_id or new_run_id()
    name = opts.name or new_run_name(run_id)
    config = dict(opts.config)
    baseline, notes = _links(db, opts.question, opts.baseline)
    now = time.time()
    Runs(db).create({
        "id": run_id, "name": name, "project": opts.project, "group_name": opts.group,
        "job_type": opts.job_type, "kind": opts.kind, "tags": list(opts.tags),
        "notes": opts.notes, "status": "running", "created_at": now, "heartbeat_at": now,
        "pid": os.getpid(), "host": this_host(), "command": [sys.executable, *sys.argv],
        "cwd": str(launch_dir()), "question_id": opts.question,
        "baseline": baseline, "seed": config_seed(config),
    }, config)
    return _Begun(run_id=run_id, name=name, project=opts.project, config=config,
                  notes=tuple(notes))


def _next_step(record: RunRecord) -> int:
    """The step a joined or resumed run goes on from."""
    return (record.last_step + 1) if record.last_step is not None else 0


def _handle(opts: StartOptions, target: StoreTarget, begun: _Begun, writer: Writer) -> Run:
    """The run's handle, writing with ``writer``, its system sampler and start-up capture
    under way."""
    run = Run(run_id=begun.run_id, name=begun.name or begun.run_id, project=begun.project,
              lab_root=target.root, objects=open_objects(target.objects), config=begun.config,
              writer=writer, start_step=begun.start_step, attached=begun.attached,
              target=target)
    check_config(run.summary, begun.config)  # fp16 without a gradient scaler: warn now
    if not begun.attached:
        run._start_tee()
    info = hydra_info()
    if info is not None:  # launched from a Hydra app: keep its overrides and choices
        run.config.update({"hydra": info})
    run._start_system(opts.system_interval)
    _start_capture(run, target, code=opts.save_code and not begun.attached, notes=begun.notes)
    return run


def _disagreements(script: Mapping[str, Any], launcher: Mapping[str, Any]) -> list[str]:
    """A note (also printed) when a Hydra app's own config disagrees with its launcher's on a
    key both give. The run records the launcher's values (what ``stepstone.config`` holds),
    but a Hydra app trains on the config it composed from its files and arguments."""
    mine, theirs = flatten(script, strict=False), flatten(launcher, strict=False)
    differ = [k for k in sorted(mine.keys() & theirs.keys()) if mine[k] != theirs[k]]
    if not differ:
        return []
    shown = ", ".join(f"{k}={mine[k]!r} (launcher: {theirs[k]!r})" for k in differ[:5])
    more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
    note = (f"this Hydra app's config differs from the launcher's at {shown}{more}: the run "
            "records the launcher's values, but the app trains on its own unless it reads "
            "stepstone.config; give a Hydra app its overrides as arguments "
            "(`stepstone run -- python app.py model.width=128`), not with --set")
    print(f"stepstone: warning: {note}", file=sys.stderr)
    return [note]


def _links(db: Database, question: str | None,
           baseline: str | None) -> tuple[str | None, list[str]]:
    """The baseline a new run records, and a note (also printed, once) for each of
    ``question`` and ``baseline`` that the lab does not hold: the run keeps such a link as
    given, marked unresolved. A tier (``small``) is recorded as its newest version
    (``small@2026-11-21``): the version the run starts from, which reproduces it."""
    notes = []
    if question is not None:
        from stepstone.store.questions import Questions  # on first use: most runs link none

        try:
            Questions(db).get(question)
        except Exception:
            notes.append(f"unresolved link: question {question!r} is not in this lab "
                         "(`stepstone question list` shows its questions)")
    version = baseline
    if baseline is not None:
        from stepstone.store.baselines import Baselines

        try:
            row = (Baselines(db).current(baseline) if "@" not in baseline
                   else Baselines(db).get(baseline))
        except Exception:
            row = None
        if row is None:
            notes.append(f"unresolved link: baseline {baseline!r} is not in this lab "
                         "(`stepstone baseline list` shows its versions)")
        else:
            version = row.version
    for note in notes:
        print(f"stepstone: {note}", file=sys.stderr)
    return version, notes


def _start_capture(run: Run, target: StoreTarget, *, code: bool,
                   notes: Sequence[str] = ()) -> None:
    folder, outputs = script_dir(), hydra_outputs()  # now: a Hydra job forgets them at its end

    # what the capture and finish() need, loaded here: a short run's finish() then waits on no
    # import of the capture's thread (each holds the interpreter lock for its switch interval)
    from stepstone.sdk.capture import capture_all

    if not run.attached:  # the result page's modules, for finish() to write it with
        result_page()

    def work() -> None:
        run.pause_for_end()  # the first time: until the thread's start has returned (below)
        try:
            cap = capture_all(open_objects(target.objects), code=code, folder=folder,
                              skip=outputs, pause=run.pause_for_end)
        except Exception as exc:  # capture must never break a run
            why = f"could not capture the environment: {exc}"
            print(f"stepstone: {why}", file=sys.stderr)
            run._record_capture([], {"capture_notes": [why, *notes]})
            return
        if notes:
            cap.fields["capture_notes"] = [*(cap.fields.get("capture_notes") or []), *notes]
        run._record_capture(cap.objects, cap.fields)

    thread = threading.Thread(target=work, name=f"stepstone-capture-{run.id}", daemon=True)
    run._capture = thread
    with run._ending:  # the thread's first pause_for_end() waits until init() has this thread
        thread.start()  # back: init() does not queue behind the capture for the interpreter lock


def _activate(run: Run) -> Run:
    global _current
    _current = run
    run._when_finished = forget
    _install_hooks()
    module = sys.modules["stepstone"]
    module.run = run  # type: ignore[attr-defined]
    module.config = run.config  # type: ignore[attr-defined]
    module.summary = run.summary  # type: ignore[attr-defined]
    return run


def forget(run: Run) -> None:
    """Called by ``Run.finish`` (handed to the run by :func:`_activate`): the module-level
    handles stop pointing at ``run``."""
    global _current
    if _current is run:
        _current = None
        module = sys.modules["stepstone"]
        module.run = None  # type: ignore[attr-defined]
        module.config = Config()  # type: ignore[attr-defined]
        module.summary = Summary()  # type: ignore[attr-defined]


def current() -> Run | None:
    return _current


# -- process hooks -------------------------------------------------------------------------------
def _install_hooks() -> None:
    global _hooks_installed, _previous_sigterm
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(wait_for_capture)  # runs after _at_exit (atexit is last in, first out)
    atexit.register(_at_exit)
    previous_hook = sys.excepthook

    def excepthook(exc_type: Any, exc: Any, tb: Any) -> None:
        global _exception
        _exception = exc
        previous_hook(exc_type, exc, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        try:
            _previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not in the main thread of the main interpreter
            pass


def _at_exit() -> None:
    if _current is not None:
        _current._finish_after(_exception)


def _on_sigterm(signum: int, frame: Any) -> None:
    global _terminating
    if _terminating:  # a second SIGTERM while the first one finishes the run: let it finish
        return  # (a dying launcher's PDEATHSIG can come once per thread it had)
    _terminating = True
    try:
        run = _current
        if run is not None:
            run.finish(status="killed", reason="terminated by SIGTERM")
    finally:
        _terminating = False
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
