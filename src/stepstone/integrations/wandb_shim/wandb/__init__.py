"""stepstone standing in for wandb (see docs/integrations/wandb.md): every name here is
stepstone's, from stepstone.integrations.wandb_compat."""

from stepstone.integrations.wandb_compat import *  # noqa: F403
from stepstone.integrations.wandb_compat import __getattr__, __version__  # noqa: F401
from wandb import errors, sdk, wandb_run  # noqa: F401  (reachable as attributes, as in wandb)
