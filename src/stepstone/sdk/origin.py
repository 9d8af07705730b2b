"""Where the running program started: the folder it was launched in, its script's folder,
and the Hydra job it runs in, if any.

``init()`` reads them on the training thread (a Hydra job forgets its runtime when it ends)
without loading the start-up capture (:mod:`stepstone.sdk.capture`), which its own thread
loads.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def _hydra_runtime() -> Any:
    """Hydra's runtime config (``cwd``, ``output_dir``) inside a Hydra app, else None. Hydra is
    read only when the program imported it."""
    if "hydra" not in sys.modules:
        return None
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime if HydraConfig.initialized() else None
    except Exception:  # an older or partial Hydra
        return None


def hydra_info() -> dict[str, Any] | None:
    """What Hydra knows about the running job, or None outside a Hydra app."""
    if "hydra" not in sys.modules:  # Hydra is read only when the program imported it
        return None
    try:
        from hydra.core.hydra_config import HydraConfig
    except ImportError:
        return None
    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    info: dict[str, Any] = {
        "overrides": [str(o) for o in hc.overrides.task],
        "job_name": str(hc.job.name),
        "config_name": None if hc.job.config_name is None else str(hc.job.config_name),
        "choices": {str(k): (None if v is None else str(v))
                    for k, v in hc.runtime.choices.items() if not str(k).startswith("hydra/")},
        "output_dir": str(hc.runtime.output_dir),
        "mode": str(getattr(hc.mode, "name", hc.mode)),
    }
    hydra_overrides = [str(o) for o in hc.overrides.hydra]
    if hydra_overrides:
        info["hydra_overrides"] = hydra_overrides
    if info["mode"] == "MULTIRUN":
        try:
            info["job_num"] = int(hc.job.num)
        except Exception:  # not set in this Hydra version
            pass
    return info


def launch_dir() -> Path:
    """The folder the program was started in: Hydra's original working directory when a
    Hydra app has moved into its output folder (``hydra.job.chdir=True``, the default before
    Hydra 1.2), else the working directory."""
    runtime = _hydra_runtime()
    return Path(str(runtime.cwd)) if runtime is not None else Path.cwd()


def hydra_outputs() -> Path | None:
    """The top folder of a Hydra app's output folders under where it started (``.../outputs``
    for ``outputs/<date>/<time>``): logs and configs of runs, never code. Read it during the
    job: Hydra forgets its runtime when the job ends."""
    runtime = _hydra_runtime()
    if runtime is None:
        return None
    start = Path(str(runtime.cwd)).resolve()
    try:
        inside = Path(str(runtime.output_dir)).resolve().relative_to(start)
    except ValueError:  # the outputs are elsewhere
        return None
    return start / inside.parts[0] if inside.parts else None


def script_dir() -> Path:
    """The folder of the running script (``sys.argv[0]``, relative to :func:`launch_dir`; for
    ``python -m pkg.mod`` Python sets it to the module's file), or that folder itself."""
    main = sys.argv[0] if sys.argv else ""
    if main and main not in ("-c", "-m"):
        path = launch_dir() / main  # an absolute argv[0] stays as it is
        if path.exists():
            return path.resolve().parent
    return launch_dir()
