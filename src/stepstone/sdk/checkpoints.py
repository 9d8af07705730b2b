"""Checkpoints of a SQLite lab beside its run's writer.

SQLite copies its write-ahead log into the database file (a checkpoint) inside the commit
that takes the log past 1,000 pages, on the committing thread: for a burst of logging that
copy, and the two fsyncs that go with it, were the larger part of the writer's time, during
which it drained nothing. The writer's connection leaves that to this thread instead
(:meth:`~stepstone.store.db.Database.leave_checkpoints`): the writer asks for a checkpoint
once its commits have added about as much to the log, and this thread makes it on its own
connection while the writer goes on; the thread starts with the first request. The writer's
end makes the last one and waits for it, so nothing of the run's is still at work on the lab
once ``finish()`` returns (only what the log took since the checkpoint before is copied
then); a run that never asked for one (a short run) has none to wait for. A checkpoint that
fails (a full disk) is tried again at the next request; the log keeps everything meanwhile.
"""

from __future__ import annotations

import threading

from stepstone.store.db import Database

CHECKPOINT_BYTES = 4 << 20  # about SQLite's 1,000 pages: the log's growth between checkpoints
COMMIT_BYTES = 16 << 10  # what a commit adds to the log besides its points (a few pages)
POINT_BYTES = 24  # a point's step, value and time
FINISH_TIMEOUT = 30.0  # how long the writer's end waits for the last checkpoint


class Checkpoints(threading.Thread):
    """Checkpoints ``path`` (a lab's SQLite file) when asked, until :meth:`finish`; the thread
    starts with the first request."""

    def __init__(self, path: str, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._path = path
        self._wake = threading.Event()
        self._last = False
        self._grown = 0

    def committed(self, points: int) -> None:
        """A commit of ``points`` points went into the log: ask for a checkpoint once the
        commits since the last one add up to :data:`CHECKPOINT_BYTES`."""
        self._grown += points * POINT_BYTES + COMMIT_BYTES
        if self._grown >= CHECKPOINT_BYTES:
            self._grown = 0
            if self.ident is None:  # the first request starts the thread
                self.start()
            self._wake.set()

    def finish(self, timeout: float = FINISH_TIMEOUT) -> None:
        """Make the last checkpoint and end the thread (wait at most ``timeout`` seconds). A
        run whose commits never added :data:`CHECKPOINT_BYTES` to the log started no thread
        and leaves the little it added to the next checkpoint (SQLite's own, when the lab's
        last connection closes): a short run's end waits for no checkpoint."""
        if self.ident is None:
            return
        self._last = True
        self._wake.set()
        self.join(timeout)

    def run(self) -> None:
        db: Database | None = None
        while True:
            self._wake.wait()
            self._wake.clear()
            last = self._last  # read first: a finish() asked for during this one gets another
            try:
                if db is None:
                    db = Database(self._path)
                db.checkpoint()
            except Exception:  # the log keeps everything; the next request tries again
                pass
            if last:
                break
        if db is not None:
            try:
                db.close()
            except Exception:
                pass
