"""wandb.sdk.lib.config_util: what Hugging Face's WandbCallback imports."""

from stepstone.errors import ConfigError  # noqa: F401
