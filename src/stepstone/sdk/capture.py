"""What every run records without being asked: code, git, command, environment.

All of it runs on a background thread started by ``init()``, never on the
training thread. The code snapshot is the set of git-tracked and
untracked-but-not-ignored files of the repository the script runs in (or the
script's folder outside git; never a lab's `.stepstone` folder), each file stored
once by content, plus a manifest.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepstone.store.objects import ObjectStore
from stepstone.store.target import LAB_DIRNAME

SNAPSHOT_MAX_BYTES = 20 * 1024 * 1024  # STEPSTONE_SNAPSHOT_MAX_BYTES overrides it
SNAPSHOT_MAX_FILES = 5000
_SKIP_DIRS = {".git", ".stepstone", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache",
              ".pytest_cache", ".ruff_cache", "wandb", "mlruns"}


@dataclass
class Capture:
    """The result of capturing one run's context."""

    fields: dict[str, Any] = field(default_factory=dict)
    # (role, name, hash, size); role None: a blob reached through the manifest, not the run
    objects: list[tuple[str | None, str, str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def snapshot_cap(cap: Capture) -> int:
    """The snapshot (and dirty diff) size cap: ``STEPSTONE_SNAPSHOT_MAX_BYTES`` or 20 MiB."""
    value = os.environ.get("STEPSTONE_SNAPSHOT_MAX_BYTES")
    if value is None:
        return SNAPSHOT_MAX_BYTES
    try:
        return max(int(value), 0)
    except ValueError:
        note = (f"STEPSTONE_SNAPSHOT_MAX_BYTES={value!r} is not a number of bytes; "
                f"using {_size(SNAPSHOT_MAX_BYTES)}")
        if note not in cap.notes:  # the diff and the snapshot both ask
            cap.notes.append(note)
        return SNAPSHOT_MAX_BYTES


def _size(n: int) -> str:
    if n >= 10**6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.1f} kB" if n >= 10**3 else f"{n} bytes"


def _git(args: list[str], cwd: Path, binary: bool = False) -> Any:
    out = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, timeout=30, check=True
    ).stdout
    return out if binary else out.decode("utf-8", "replace").strip()


def script_dir() -> Path:
    """The folder of the running script (``sys.argv[0]``), or the working directory."""
    main = sys.argv[0] if sys.argv else ""
    if main and main not in ("-c", "-m") and Path(main).exists():
        return Path(main).resolve().parent
    return Path.cwd()


def git_root(start: Path) -> Path | None:
    if shutil.which("git") is None:
        return None
    try:
        return Path(_git(["rev-parse", "--show-toplevel"], start))
    except (subprocess.SubprocessError, OSError):
        return None


def _git_or_none(args: list[str], root: Path) -> str | None:
    """The output of a git query, or None when git answers no (no commit yet, a detached
    HEAD)."""
    try:
        return _git(args, root) or None
    except subprocess.CalledProcessError:
        return None


def capture_git(root: Path, store: ObjectStore, cap: Capture) -> None:
    """Commit, branch, dirty flag and the diff against HEAD (tracked files; the untracked ones
    are in the code snapshot) as ``diff.patch``, capped like the snapshot."""
    try:
        cap.fields["git_commit"] = _git_or_none(["rev-parse", "--verify", "-q", "HEAD"], root)
        cap.fields["git_branch"] = _git_or_none(["symbolic-ref", "--short", "-q", "HEAD"], root)
        status = _git(["status", "--porcelain"], root)
        cap.fields["git_dirty"] = int(bool(status))
        if status and cap.fields["git_commit"]:
            diff = _git(["diff", "HEAD", "--binary"], root, binary=True)
            limit = snapshot_cap(cap)
            if len(diff) > limit:
                cap.notes.append(f"dirty diff not stored: {_size(len(diff))} is over the "
                                 f"{_size(limit)} cap; commit the change or raise "
                                 "STEPSTONE_SNAPSHOT_MAX_BYTES")
            elif diff:
                digest = store.put(diff)
                cap.objects.append(("git", "diff.patch", digest, len(diff)))
    except (subprocess.SubprocessError, OSError) as exc:
        cap.notes.append(f"git state not captured: {exc}")


def _list_files(folder: Path, in_git: bool) -> list[str]:
    if in_git:
        out = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], folder,
                   binary=True)
        listed = (p for p in out.decode("utf-8", "replace").split("\0") if p)
        # a lab inside the repository is never code, even where no .gitignore says so
        return sorted({p for p in listed if LAB_DIRNAME not in Path(p).parts})
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")]
        for name in filenames:
            files.append(os.path.relpath(os.path.join(dirpath, name), folder))
            if len(files) > SNAPSHOT_MAX_FILES:
                return sorted(files)
    return sorted(files)


def snapshot_code(folder: Path, in_git: bool, store: ObjectStore, cap: Capture) -> None:
    """Store every file of ``folder`` once by content, and a manifest naming them."""
    try:
        paths = _list_files(folder, in_git)
    except (subprocess.SubprocessError, OSError) as exc:
        cap.notes.append(f"code snapshot skipped: cannot list files ({exc})")
        return
    if len(paths) > SNAPSHOT_MAX_FILES:
        cap.notes.append(
            f"code snapshot skipped: {folder} has more than {SNAPSHOT_MAX_FILES} files; "
            "run from the project folder or add a .gitignore"
        )
        return
    sizes = {}
    for rel in paths:
        full = folder / rel
        if full.is_file() and not full.is_symlink():
            sizes[rel] = full.stat().st_size
    total = sum(sizes.values())
    limit = snapshot_cap(cap)
    if total > limit:
        cap.notes.append(
            f"code snapshot skipped: {_size(total)} of files in {folder} is over the "
            f"{_size(limit)} cap; ignore data and checkpoints in .gitignore "
            "or raise STEPSTONE_SNAPSHOT_MAX_BYTES"
        )
        return
    files = {}
    for rel in sizes:
        try:
            data = (folder / rel).read_bytes()
        except OSError:
            continue
        digest = store.put(data)  # the size of what was read: the file may have changed
        files[rel] = {"hash": digest, "size": len(data)}
        cap.objects.append((None, rel, digest, len(data)))  # reached via the manifest
    manifest = json.dumps(
        {"root": str(folder), "git": in_git, "files": files}, sort_keys=True
    ).encode()
    snap = store.put(manifest)
    cap.objects.append(("code", "manifest.json", snap, len(manifest)))
    cap.fields["code_snapshot"] = snap


def packages() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out[name] = dist.version
    return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
    }
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * page_size / 2**30, 2)
    except (ValueError, OSError, AttributeError):
        pass
    gpus = _gpus()
    if gpus:
        info["gpus"] = gpus
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _gpus() -> list[dict[str, Any]]:
    torch = sys.modules.get("torch")  # only if the script already imported it
    if torch is not None:
        try:
            if torch.cuda.is_available():
                cuda = torch.cuda
                return [
                    {"name": cuda.get_device_name(i),
                     "memory_gb": round(cuda.get_device_properties(i).total_memory / 2**30, 2)}
                    for i in range(cuda.device_count())
                ]
        except Exception:
            pass
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout
            return [{"name": line.split(",")[0].strip(), "memory": line.split(",")[1].strip()}
                    for line in out.strip().splitlines() if "," in line]
        except (subprocess.SubprocessError, OSError):
            pass
    return []


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "packages": packages(),
        "hardware": hardware(),
    }


def capture_all(store: ObjectStore, *, code: bool = True, folder: Path | None = None) -> Capture:
    """Everything a run records about its context (the slow part of ``init``).

    ``folder`` is where the code lives (default: the running script's folder).
    """
    cap = Capture()
    cap.fields["env"] = environment()
    folder = folder or script_dir()
    root = git_root(folder)
    if root is not None:
        capture_git(root, store, cap)
    if code:
        snapshot_code(root or folder, root is not None, store, cap)
    if cap.notes:
        cap.fields["capture_notes"] = cap.notes
        for note in cap.notes:
            print(f"stepstone: {note}", file=sys.stderr)
    return cap
