"""Hydra and OmegaConf: record the composed config and the command-line overrides.

``stepstone.init(config=cfg)`` already takes an OmegaConf ``DictConfig`` (resolved,
interpolations and all). Inside a Hydra app, :func:`record` adds what Hydra knows
about the launch under the config key ``hydra`` (a key that config verification
never counts as a change): the task overrides as typed on the command line, the
config-group choices, the job and config names, the output directory and, in a
multirun, the job number::

    import hydra
    import stepstone
    from stepstone.integrations.hydra import record

    @hydra.main(version_base=None, config_path="conf", config_name="config")
    def main(cfg):
        run = stepstone.init(project="mqar", config=cfg)
        record(run)            # config["hydra"]["overrides"] == ["model.attention=sliding"]
        ...

:func:`init` does both in one call. Nothing here imports Hydra unless the program
already did, so calling :func:`record` outside a Hydra app is cheap and a no-op.
"""

from __future__ import annotations

import sys
from typing import Any

from stepstone.sdk.run import Run


def hydra_info() -> dict[str, Any] | None:
    """What Hydra knows about the running job, or None outside a Hydra app."""
    if "hydra" not in sys.modules:
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


def record(run: Run | None = None) -> dict[str, Any] | None:
    """Add Hydra's launch info to ``run``'s config (key ``hydra``); return it, or None
    outside a Hydra app. ``run`` defaults to the current ``stepstone.run``."""
    info = hydra_info()
    if info is None:
        return None
    if run is None:
        from stepstone.sdk import session

        run = session.current()
        if run is None:
            return info
    run.config.update({"hydra": info})
    return info


def init(cfg: Any = None, **kwargs: Any) -> Run:
    """``stepstone.init(config=cfg, **kwargs)``, then :func:`record` on the new run."""
    import stepstone

    run = stepstone.init(config=cfg, **kwargs)
    record(run)
    return run


__all__ = ["hydra_info", "init", "record"]
