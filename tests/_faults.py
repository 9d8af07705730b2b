"""Real faults for the reliability tests and benchmark: a TCP proxy in front of PostgreSQL that
can cut every connection or drop the reply to a COMMIT, and a tiny disk that fills up."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


class Proxy:
    """Forwards 127.0.0.1:``port`` to a PostgreSQL server.

    ``drop_commit_replies(n)``: the next ``n`` times a client sends a COMMIT, the proxy forwards
    it (the server commits) and then closes both sides instead of passing the server's reply
    on, so the client cannot know that its transaction committed. ``cut()``: every connection
    is closed and new ones are refused until ``heal()``."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._server = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = urlunsplit(parts._replace(
            netloc=f"{parts.netloc.rsplit('@', 1)[0] + '@' if '@' in parts.netloc else ''}"
                   f"127.0.0.1:{self.port}"))
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._drops = 0
        self.dropped = 0
        self._down = False
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_commit_replies(self, count: int) -> None:
        with self._lock:
            self._drops = count

    def cut(self) -> None:
        with self._lock:
            self._down = True
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            _close(*pair)

    def heal(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                down = self._down
            if down:
                client.close()
                continue
            try:
                server = socket.create_connection(self._server)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            state = {"commit": False}
            threading.Thread(target=self._pump, args=(client, server, state, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, state, False),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict[str, bool],
              upstream: bool) -> None:
        try:
            while data := src.recv(65536):
                if upstream and b"COMMIT" in data:
                    with self._lock:
                        state["commit"] = self._drops > 0
                elif not upstream and state["commit"]:
                    with self._lock:
                        self._drops -= 1
                        self.dropped += 1
                    state["commit"] = False
                    break  # the server committed; its reply is never passed on
                dst.sendall(data)
        except OSError:
            pass
        _close(src, dst)


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()


@contextlib.contextmanager
def tiny_disk(where: Path, size: str = "2m") -> Iterator[Path | None]:
    """A tmpfs of ``size`` mounted at ``where`` (None where this machine does not allow it)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True).returncode == 0
    try:
        yield where if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: str | Path) -> Path:
    """Fill the disk holding ``folder`` to the brim; return the file that fills it."""
    filler = Path(folder) / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for block in (1 << 16, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * block):
                    pass
    finally:
        os.close(fd)
    return filler
