"""A file stored with a run (an artifact, a log, a media file), shaped like wandb's ``File``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Any

from stepstone.api._paths import run_url
from stepstone.errors import UsageError
from stepstone.store.lab import Lab


class File:
    """One object of a run: ``name``, ``role`` (artifact, log, media...), ``hash`` (its
    content address), ``size``; :meth:`read` gives the bytes, :meth:`download` writes them."""

    def __init__(self, lab: Lab, run_id: str, role: str, name: str, digest: str) -> None:
        self._lab = lab
        self._run_id = run_id
        self.role = role
        self.name = name
        self.hash = digest

    @property
    def size(self) -> int:
        return len(self.read())

    @property
    def url(self) -> str:
        """Where the dashboard serves the run (stepstone has no per-file URL)."""
        return run_url(self._run_id)

    def read(self) -> bytes:
        return self._lab.run_object(self._run_id, self.role, self.name)

    def __getitem__(self, key: str) -> Any:  # the dict shape earlier versions returned
        if key not in ("role", "name", "hash"):
            raise KeyError(key)
        return getattr(self, key)

    def download(self, root: str | Path = ".", replace: bool = False, exist_ok: bool = False,
                 api: Any = None) -> IO[str]:
        """Write the file under ``root`` (its name may hold folders) and open it, as wandb's
        ``File.download`` does; an existing file is a ValueError unless ``replace`` (write
        again) or ``exist_ok`` (keep it)."""
        base = Path(root).resolve()
        path = (base / self.name).resolve()
        if base not in path.parents:
            raise UsageError(f"cannot download {self.name!r}: its name leaves {base}")
        if path.exists() and not replace:
            if exist_ok:
                return open(path)
            raise ValueError(f"{path} already exists: pass replace=True to overwrite it "
                             "or exist_ok=True to keep it")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.read())
        return open(path)

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.role})>"


def like_pattern(pattern: str) -> re.Pattern[str]:
    """wandb's file pattern (SQL LIKE: ``%`` any text, ``_`` one character) as a regex."""
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def select(files: list[File], names: list[str] | None, pattern: str | None) -> list[File]:
    """The files named, or matching the pattern (both at once is a UsageError, as in wandb)."""
    if names and pattern:
        raise UsageError("files(): give names or a pattern, not both")
    if names:
        wanted = set(names)
        return [f for f in files if f.name in wanted]
    if pattern:
        regex = like_pattern(pattern)
        return [f for f in files if regex.match(f.name)]
    return files
