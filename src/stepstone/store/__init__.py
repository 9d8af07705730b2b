"""The store: every SQL statement of stepstone, and the content-addressed objects."""

from stepstone.store.lab import Lab, find_lab, init_lab, open_lab

__all__ = ["Lab", "find_lab", "init_lab", "open_lab"]
