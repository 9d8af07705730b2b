"""What the SDK is handed instead of importing it: the result page a run's end writes.

The SDK tracks runs and knows no rule of the method. A run's result page in the notebook
(its numbers, suite checks and precision lints) is the method's
(:func:`stepstone.method.result_page.record_run_result`); ``import stepstone`` hands it here,
so every run gets its page, and ``stepstone.sdk`` alone imports nothing of ``method/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepstone.store.lab import Lab

ResultPage = Callable[["Lab", str], Any]
"""Writes the result page of a run that ended: ``write(lab, run_id)``."""

_result_page: Callable[[], ResultPage] | None = None


def hand_result_page(load: Callable[[], ResultPage]) -> None:
    """Set what writes a finished run's result page: ``load()`` returns the writer (it may
    import it then; the start-up capture thread calls it early so that ``finish()`` does
    not wait on that import)."""
    global _result_page
    _result_page = load


def result_page() -> ResultPage | None:
    """The function that writes a run's result page, or None when none was handed."""
    return None if _result_page is None else _result_page()
