"""wandb.sdk.wandb_run: the run class is stepstone's."""

from stepstone.sdk.run import Run  # noqa: F401
