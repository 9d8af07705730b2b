"""wandb.sdk: the pieces libraries import, all stepstone's."""

from stepstone.integrations.wandb_compat import Artifact, Settings  # noqa: F401
from wandb.sdk import lib, wandb_run, wandb_settings  # noqa: F401
