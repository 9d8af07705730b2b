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

from typing import Any

from stepstone.sdk.origin import hydra_info
from stepstone.sdk.run import Run


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


__all__ = ["init", "record"]
