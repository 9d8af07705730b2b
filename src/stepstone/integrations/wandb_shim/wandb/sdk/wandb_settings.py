"""wandb.sdk.wandb_settings: settings are accepted and not used."""

from stepstone.integrations.wandb_compat import Settings  # noqa: F401
