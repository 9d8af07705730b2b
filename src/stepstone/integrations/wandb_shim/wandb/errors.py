"""wandb.errors: stepstone's errors under wandb's names."""

from stepstone.errors import LabError as CommError  # noqa: F401
from stepstone.errors import StepstoneError as Error  # noqa: F401
from stepstone.errors import UsageError  # noqa: F401
