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
import socket
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stepstone.errors import LabError, StoreUnreachableError, UsageError
from stepstone.sdk import tensorboard_sync
from stepstone.sdk.capture import hydra_info, launch_dir
from stepstone.sdk.hooks import result_page
from stepstone.sdk.lints import check_config
from stepstone.sdk.run import Config, Run, Summary, as_mapping, config_seed, wait_for_capture
from stepstone.sdk.system import sampling_interval, wandb_stats_setting
from stepstone.sdk.writer import DEFAULT_INTERVAL, Writer
from stepstone.store.batches import copy_of_run
from stepstone.store.db import is_postgres_url
from stepstone.store.lab import connect, create_local_lab, init_lab
from stepstone.store.runs import Runs, flatten
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
_warned_options: set[str] = set()

_current: Run | None = None
_hooks_installed = False
_exception: BaseException | None = None
_previous_sigterm: Any = None
_terminating = False  # a SIGTERM is finishing the run now: one arriving meanwhile waits


def new_run_id() -> str:
    """An 8-character base-36 id, like wandb's."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    value = uuid.uuid4().int
    return "".join(alphabet[(value >> (5 * i)) % 36] for i in range(8))


def new_run_name(run_id: str) -> str:
    rng = random.Random(run_id)
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{run_id[:4]}"


def _lab_root(lab: str | Path | None, dir: str | Path | None) -> StoreTarget:
    """The store to write to (``lab``, ``STEPSTONE_LAB``, ``STEPSTONE_STORE``, the nearest lab
    upward from where the program started, then from ``dir``); a local lab is made on the spot
    (in ``dir`` when given, with a note) when none exists yet. ``dir`` is where wandb would
    write its files (Lightning's WandbLogger passes ``"."``), not a lab of its own."""
    chosen = lab or os.environ.get("STEPSTONE_LAB")
    if chosen and is_postgres_url(str(chosen)):
        return target_of_url(str(chosen))
    start = launch_dir()  # where the program started (a Hydra app may have moved since)
    if chosen:
        path = start / Path(chosen).expanduser()
        root = path if path.name == LAB_DIRNAME else path / LAB_DIRNAME
        if not is_lab_folder(root):
            init_lab(root)
        return target_of_folder(root.resolve())
    if os.environ.get("STEPSTONE_STORE"):
        return target_of_url(os.environ["STEPSTONE_STORE"])
    here = start.resolve()
    wanted = (start / Path(dir).expanduser()).resolve() if dir is not None else here
    for folder in (here, *here.parents, wanted, *wanted.parents):
        if is_lab_folder(folder / LAB_DIRNAME):
            return target_of_folder(folder / LAB_DIRNAME)
    root = init_lab(wanted)
    print(f"stepstone: created a lab at {root} (run `stepstone status` there to see runs)",
          file=sys.stderr)
    return target_of_folder(root)


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
    """
    unknown = set(wandb_options) - _WANDB_OPTIONS
    if unknown:
        raise TypeError(f"init() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    _warn_ignored(wandb_options)
    if wandb_options.get("sync_tensorboard") or wandb_options.get("tensorboard"):
        tensorboard_sync.start(current)
    if _current is not None:
        _current.finish()
    mode = mode or os.environ.get("STEPSTONE_MODE") or "online"
    if mode not in ("online", "offline", "disabled", "shared"):
        raise UsageError(f"mode must be 'online', 'offline' or 'disabled', not {mode!r}")
    if system_metrics is None:
        system_metrics = wandb_stats_setting(wandb_options.get("settings"))
    interval = sampling_interval(system_metrics)
    user_config = _pick_keys(as_mapping(config) if config is not None else {},
                             wandb_options.get("config_include_keys"),
                             wandb_options.get("config_exclude_keys"))
    project = project or os.environ.get("STEPSTONE_PROJECT") or _default_project()
    if mode == "disabled":
        return _activate(Run(run_id=id or new_run_id(), name=name or "disabled", project=project,
                             lab_root=None, config=user_config, writer=None))
    try:
        run = _start(project, name, user_config, tags, notes, group, job_type, dir, resume, id,
                     lab, kind, question, baseline, flush_interval, offline=mode == "offline",
                     save_code=wandb_options.get("save_code", True) is not False)
        run._start_system(interval)
        return run
    except LabError as exc:
        print(f"stepstone: {exc}. This run is NOT being recorded; training goes on.",
              file=sys.stderr)
        return _activate(Run(run_id=id or new_run_id(), name=name or "unrecorded",
                             project=project, lab_root=None, config=user_config, writer=None))


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


def _default_project() -> str:
    main = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    return Path(main).stem if main else launch_dir().name or "default"


def _start(
    project: str, name: str | None, user_config: Mapping[str, Any], tags: Sequence[str] | None,
    notes: str | None, group: str | None, job_type: str | None, dir: str | Path | None,
    resume: bool | str | None, run_id: str | None, lab: str | Path | None, kind: str | None,
    question: str | None, baseline: str | None, flush_interval: float, offline: bool,
    save_code: bool,
) -> Run:
    target = _lab_root(lab, dir)
    if offline and target.is_postgres:
        target = _offline(target, None)
    try:
        db = connect(target)  # an embedded lab is upgraded here; a team store is only checked
    except StoreUnreachableError as exc:
        target = _offline(target, exc)
        db = connect(target)
    try:
        runs = Runs(db)
        attached_id = os.environ.get("STEPSTONE_RUN_ID")
        attached = (bool(attached_id) and runs.exists(str(attached_id))
                    and run_id in (None, attached_id))
        start_step = 0
        notes_for_capture: list[str] = []
        if attached:
            run_id = str(attached_id)
            record = runs.get(run_id)
            config = {**user_config, **record.config}  # the launcher's config wins
            if _in_hydra_app():
                notes_for_capture = _disagreements(user_config, record.config)
            runs.write_config(run_id, config, own_transaction=True)
            extra: dict[str, Any] = {"status": "running"}
            if tags:
                extra["tags"] = sorted(set(record.tags) | set(tags))
            if notes:
                extra["notes"] = notes
            if name and (record.name.startswith("run-") or record.name == new_run_name(run_id)):
                # the launcher's generated name: the script's own wins (a --name does not)
                extra["name"] = name
            runs.update(run_id, **extra)
            name, project = str(extra.get("name", record.name)), record.project
            start_step = (record.last_step + 1) if record.last_step is not None else 0
        elif run_id is not None and runs.exists(run_id):
            if resume in (None, False, "never"):
                raise UsageError(
                    f"run {run_id} already exists: pass resume='allow' to continue it, "
                    "or drop id= to start a new run"
                )
            record = runs.get(run_id)
            config = {**record.config, **user_config}
            runs.write_config(run_id, config, own_transaction=True)
            runs.update(run_id, status="running", reason=None, ended_at=None, exit_code=None,
                        pid=os.getpid(), host=socket.gethostname(), heartbeat_at=time.time())
            name, project = record.name, record.project
            start_step = (record.last_step + 1) if record.last_step is not None else 0
        else:
            if resume == "must":
                raise UsageError(
                    f"resume='must' but there is no run {run_id!r} in {target.describe()}")
            run_id = run_id or new_run_id()
            config = dict(user_config)
            now = time.time()
            runs.create({
                "id": run_id, "name": name or new_run_name(run_id), "project": project,
                "group_name": group, "job_type": job_type, "kind": kind or "adhoc",
                "tags": list(tags or []), "notes": notes, "status": "running",
                "created_at": now, "heartbeat_at": now, "pid": os.getpid(),
                "host": socket.gethostname(), "command": [sys.executable, *sys.argv],
                "cwd": str(launch_dir()), "question_id": question, "baseline": baseline,
                "seed": config_seed(config),
            }, config)
            name = name or new_run_name(run_id)
            notes_for_capture = unresolved_links(db, question, baseline)
        run_copy = copy_of_run(db, run_id)  # what a spool needs if the lab fails at the end
    finally:
        db.close()
    writer = Writer(target.database, run_id, interval=flush_interval, run_copy=run_copy,
                    spools=spool_targets(target))
    writer.start()
    run = Run(run_id=run_id, name=name or run_id, project=project, lab_root=target.root,
              objects=open_objects(target.objects), config=config, writer=writer,
              start_step=start_step, attached=attached, target=target)
    check_config(run.summary, config)  # fp16 without a gradient scaler: warn now, not later
    _start_capture(run, target, code=save_code and not attached, notes=notes_for_capture)
    if not attached:
        run._start_tee()
    info = hydra_info()
    if info is not None:  # launched from a Hydra app: keep its overrides and choices
        run.config.update({"hydra": info})
    return _activate(run)


def _in_hydra_app() -> bool:
    return hydra_info() is not None


def _disagreements(script: Mapping[str, Any], launcher: Mapping[str, Any]) -> list[str]:
    """A note (also printed) when a Hydra app's own config disagrees with its launcher's on a
    key both give. The run records the launcher's values (what ``stepstone.config`` holds),
    but a Hydra app trains on the config it composed from its files and arguments."""
    mine, theirs = flatten(script), flatten(launcher)
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


def unresolved_links(db: Any, question: str | None, baseline: str | None) -> list[str]:
    """A note (also printed, once) for each of ``question`` and ``baseline`` that the lab
    does not hold: the run keeps the link as given, marked unresolved."""
    from stepstone.store.baselines import Baselines
    from stepstone.store.questions import Questions

    notes = []
    if question is not None:
        try:
            Questions(db).get(question)
        except Exception:
            notes.append(f"unresolved link: question {question!r} is not in this lab "
                         "(`stepstone question list` shows its questions)")
    if baseline is not None:
        try:
            known = (Baselines(db).current(baseline) is not None if "@" not in baseline
                     else bool(Baselines(db).get(baseline)))
        except Exception:
            known = False
        if not known:
            notes.append(f"unresolved link: baseline {baseline!r} is not in this lab "
                         "(`stepstone baseline list` shows its versions)")
    for note in notes:
        print(f"stepstone: {note}", file=sys.stderr)
    return notes


def _start_capture(run: Run, target: StoreTarget, *, code: bool,
                   notes: Sequence[str] = ()) -> None:
    from stepstone.sdk.capture import capture_all, hydra_outputs, script_dir

    folder, outputs = script_dir(), hydra_outputs()  # now: a Hydra job forgets them at its end

    def work() -> None:
        if not run.attached:  # what finish() writes the result page with, loaded off this thread
            result_page()
        try:
            cap = capture_all(open_objects(target.objects), code=code, folder=folder,
                              skip=outputs)
        except Exception as exc:  # capture must never break a run
            why = f"could not capture the environment: {exc}"
            print(f"stepstone: {why}", file=sys.stderr)
            run._record_capture([], {"capture_notes": [why, *notes]})
            return
        if notes:
            cap.fields["capture_notes"] = [*(cap.fields.get("capture_notes") or []), *notes]
        run._record_capture(cap.objects, cap.fields)

    thread = threading.Thread(target=work, name=f"stepstone-capture-{run.id}", daemon=True)
    thread.start()
    run._capture = thread


def _activate(run: Run) -> Run:
    global _current
    _current = run
    _install_hooks()
    module = sys.modules["stepstone"]
    module.run = run  # type: ignore[attr-defined]
    module.config = run.config  # type: ignore[attr-defined]
    module.summary = run.summary  # type: ignore[attr-defined]
    return run


def forget(run: Run) -> None:
    """Called by ``Run.finish``: the module-level handles stop pointing at ``run``."""
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
