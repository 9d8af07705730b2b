"""What every run records without being asked: code, git, command, environment.

All of it runs on a background thread started by ``init()``, never on the
training thread. The code snapshot is the set of git-tracked and
untracked-but-not-ignored files of the repository the script runs in (or the
script's folder outside git), each file stored once by content, plus a manifest.
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

SNAPSHOT_MAX_BYTES = int(os.environ.get("STEPSTONE_SNAPSHOT_MAX_BYTES", 20 * 1024 * 1024))
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


def capture_git(root: Path, store: ObjectStore, cap: Capture) -> None:
    try:
        cap.fields["git_commit"] = _git(["rev-parse", "HEAD"], root)
    except subprocess.CalledProcessError:
        cap.fields["git_commit"] = None  # a repository with no commit yet
    try:
        cap.fields["git_branch"] = _git(["symbolic-ref", "--short", "-q", "HEAD"], root) or None
    except subprocess.CalledProcessError:
        cap.fields["git_branch"] = None  # a detached HEAD
    try:
        status = _git(["status", "--porcelain"], root)
        cap.fields["git_dirty"] = int(bool(status))
        if status and cap.fields["git_commit"]:
            diff = _git(["diff", "HEAD", "--binary"], root, binary=True)
            if diff:
                digest = store.put(diff)
                cap.objects.append(("git", "diff.patch", digest, len(diff)))
    except (subprocess.SubprocessError, OSError) as exc:
        cap.notes.append(f"git state not captured: {exc}")


def _list_files(folder: Path, in_git: bool) -> list[str]:
    if in_git:
        out = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], folder,
                   binary=True)
        return sorted({p for p in out.decode("utf-8", "replace").split("\0") if p})
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
    if total > SNAPSHOT_MAX_BYTES:
        cap.notes.append(
            f"code snapshot skipped: {total / 1e6:.1f} MB of files in {folder} is over the "
            f"{SNAPSHOT_MAX_BYTES / 1e6:.0f} MB cap; ignore data and checkpoints in .gitignore "
            "or raise STEPSTONE_SNAPSHOT_MAX_BYTES"
        )
        return
    files = {}
    for rel, size in sizes.items():
        try:
            data = (folder / rel).read_bytes()
        except OSError:
            continue
        digest = store.put(data)
        files[rel] = {"hash": digest, "size": size}
        cap.objects.append((None, rel, digest, size))  # registered, reached via the manifest
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
