"""Open labs kept for reuse by a server that reads one store for many requests (the dashboard).

Opening a lab connects and checks the schema version: on PostgreSQL a TCP handshake, the
authentication and a query, tens of milliseconds a page. A :class:`LabPool` keeps the labs
it opened; a borrowed one is checked first (:meth:`Database.alive`, one empty round trip on
PostgreSQL) and opened anew when the server dropped it (a restart, ``pg_terminate_backend``).
At most ``size`` are open at once: a request beyond them waits for one to come back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from stepstone.store.lab import Lab, connect
from stepstone.store.target import StoreTarget


class LabPool:
    """Labs of ``target``, each used by one borrower at a time."""

    def __init__(self, target: StoreTarget, *, readonly: bool = False, size: int = 8) -> None:
        if size < 1:
            raise ValueError(f"a pool holds at least one lab, not {size}")
        self.target, self.readonly, self.size = target, readonly, size
        self.opened = 0  # labs opened so far, the reopened ones included
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[Lab] = []
        self._closed = False

    @contextmanager
    def borrow(self) -> Iterator[Lab]:
        """A lab for this block alone; it goes back to the pool afterwards, open."""
        with self._slots:
            lab = self._take()
            try:
                yield lab
            finally:
                self._give_back(lab)

    def _take(self) -> Lab:
        while True:
            with self._lock:
                lab = self._idle.pop() if self._idle else None
            if lab is None:
                lab = Lab(self.target.root, connect(self.target, readonly=self.readonly),
                          self.target)
                with self._lock:
                    self.opened += 1
                return lab
            if lab.db.alive():
                return lab
            lab.close()  # the server dropped it: open another

    def _give_back(self, lab: Lab) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(lab)
                return
        lab.close()

    def close(self) -> None:
        """Close the idle labs; those still borrowed close when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for lab in idle:
            lab.close()
