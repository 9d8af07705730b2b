"""Framework integrations: Lightning, Hugging Face, Hydra and the wandb stand-in.

Each module is imported on its own (``from stepstone.integrations.lightning import
StepstoneLogger``); nothing here imports a framework the program has not. The folder
``wandb_shim`` is not part of this package: it is put on ``PYTHONPATH`` so that ``import
wandb`` resolves to stepstone (see :mod:`stepstone.integrations.as_wandb`).
"""
