"""wandb.sdk.lib: what Lightning's WandbLogger imports."""

from stepstone.integrations.wandb_compat import RunDisabled  # noqa: F401
from wandb.sdk.lib import config_util  # noqa: F401
