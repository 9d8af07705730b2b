"""What every run records without being asked: code, git, command, environment.

All of it runs on a background thread started by ``init()``, never on the
training thread. The code snapshot is the set of git-tracked and
untracked-but-not-ignored files of the repository the code that runs is in (the
script's, or for ``python -m`` the module's; outside git, its folder; never a lab's
`.stepstone` folder), each file stored once by content, plus a manifest. The git
commit is that repository's. An entry point in an installed package (site-packages:
``python -m pkg`` of an installed ``pkg``, ``pytest``, ``torchrun``) is recorded by the
package's name and version (``env.code_package``), and the code is then the working
folder's (its repository, or the folder), never the checkout a virtualenv sits in.

What does not change between runs of one environment is cached in the user's cache
folder (``$XDG_CACHE_HOME/stepstone``, else ``~/.cache/stepstone``): the installed
packages, keyed by the interpreter and the modification times of its site-packages
folders (an install or uninstall changes them), and each code snapshot's manifest,
keyed by the object store, the folder and every listed file's path, size and
modification time (a file read again only when one of them changed).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepstone.sdk.origin import launch_dir, script_dir
from stepstone.store.objects import ObjectStore
from stepstone.store.runs import this_host
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


def module_dir(module: str, cwd: Path) -> Path | None:
    """The folder of the code ``python -m module`` runs from ``cwd`` (the module's own folder
    or package), found as Python would (``cwd`` first, then ``sys.path``) without importing
    anything; None when it cannot be found."""
    import importlib.util

    parts = [p for p in module.split(".") if p]
    if not parts:
        return None
    for base in (cwd, *(Path(p) for p in sys.path if p)):
        here = base.joinpath(*parts)
        if (here / "__main__.py").is_file():
            return here.resolve()
        if here.with_suffix(".py").is_file():
            return here.parent.resolve()
    try:
        found = importlib.util.find_spec(parts[0])  # the top package: not imported
    except (ImportError, ValueError):
        return None
    if found is None or found.origin in (None, "built-in", "frozen"):
        return None
    top = Path(str(found.origin)).parent
    return top.joinpath(*parts[1:-1]).resolve() if len(parts) > 1 else top.resolve()


def installed_package(folder: Path) -> str | None:
    """``"name version"`` when ``folder`` is inside an installed distribution (site-packages,
    not a checkout): the code that ran is that release, not a repository."""
    import sysconfig

    resolved = folder.resolve()
    for key in ("purelib", "platlib"):
        site = Path(sysconfig.get_paths()[key]).resolve()
        try:
            top = resolved.relative_to(site).parts[0]
        except (ValueError, IndexError):
            continue
        import importlib.metadata  # only here: it costs a short run's capture ~10 ms

        dists = importlib.metadata.packages_distributions().get(top, [top])
        try:
            return f"{dists[0]} {importlib.metadata.version(dists[0])}"
        except importlib.metadata.PackageNotFoundError:
            return top
    return None


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


def _list_files(folder: Path, in_git: bool, skip: Path | None = None) -> list[str]:
    """The files of ``folder`` to snapshot, relative to it; nothing under ``skip``."""
    if in_git:
        out = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], folder,
                   binary=True)
        listed = (p for p in out.decode("utf-8", "replace").split("\0") if p)
        # a lab inside the repository is never code, even where no .gitignore says so
        return sorted({p for p in listed if LAB_DIRNAME not in Path(p).parts
                       and (skip is None or skip not in (folder / p).parents)})
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")
                       and (skip is None or Path(dirpath, d) != skip)]
        for name in filenames:
            files.append(os.path.relpath(os.path.join(dirpath, name), folder))
            if len(files) > SNAPSHOT_MAX_FILES:
                return sorted(files)
    return sorted(files)


def snapshot_code(folder: Path, in_git: bool, store: ObjectStore, cap: Capture,
                  skip: Path | None = None) -> None:
    """Store every file of ``folder`` (none under ``skip``) once by content, and a manifest
    naming them."""
    try:
        paths = _list_files(folder, in_git, skip)
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
    stamps = [str(store.root.resolve()), str(folder), str(in_git)]
    for rel in paths:
        full = folder / rel
        try:
            st = full.lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            sizes[rel] = st.st_size
            stamps.append(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}")
    total = sum(sizes.values())
    limit = snapshot_cap(cap)
    if total > limit:
        cap.notes.append(
            f"code snapshot skipped: {_size(total)} of files in {folder} is over the "
            f"{_size(limit)} cap; ignore data and checkpoints in .gitignore "
            "or raise STEPSTONE_SNAPSHOT_MAX_BYTES"
        )
        return
    key = _digest(stamps)
    if _cached_snapshot(key, store, cap):
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
    _cache_write("snapshots", key, {"manifest": snap})


def _cached_snapshot(key: str, store: ObjectStore, cap: Capture) -> bool:
    """Record the snapshot cached under ``key`` when its manifest is still in ``store``."""
    entry = _cache_read("snapshots", key)
    snap = entry.get("manifest") if isinstance(entry, dict) else None
    if not isinstance(snap, str):
        return False
    try:
        manifest = store.get(snap)
        files = json.loads(manifest)["files"]
        objects = [(None, rel, str(f["hash"]), int(f["size"])) for rel, f in files.items()]
    except Exception:  # gone, unreadable or not a manifest: take the snapshot afresh
        return False
    cap.objects.extend(objects)
    cap.objects.append(("code", "manifest.json", snap, len(manifest)))
    cap.fields["code_snapshot"] = snap
    return True


def cache_dir() -> Path:
    """Where capture keeps what does not change between runs of one environment."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stepstone"


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", "replace")).hexdigest()


def _cache_read(kind: str, key: str) -> Any:
    try:
        return json.loads((cache_dir() / kind / f"{key}.json").read_bytes())
    except (OSError, ValueError):
        return None


def _cache_write(kind: str, key: str, value: Any) -> None:
    """Best effort: a cache that cannot be written only costs the next run some time."""
    folder = cache_dir() / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        pass


def _environment_key() -> str:
    """The interpreter and the state of its package folders: the key of :func:`packages`."""
    parts = [sys.executable, sys.version]
    for entry in sys.path:
        parts.append(entry)
        if "-packages" in entry or entry.endswith((".zip", ".egg")):
            try:
                parts.append(str(os.stat(entry).st_mtime_ns))
            except OSError:
                pass
    return _digest(parts)


_PACKAGES: dict[str, dict[str, str]] = {}


def packages() -> dict[str, str]:
    """The installed distributions and their versions (cached per :func:`_environment_key`)."""
    key = _environment_key()
    known = _PACKAGES.get(key)
    if known is None:
        cached = _cache_read("packages", key)
        if isinstance(cached, dict) and all(isinstance(v, str) for v in cached.values()):
            known = cached
        else:
            known = _installed()
            _cache_write("packages", key, known)
        _PACKAGES[key] = known
    return dict(known)


def _installed() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in metadata.distributions():
        try:
            name, version = dist.metadata["Name"], dist.version
        except Exception:  # a half-installed distribution (no METADATA): nothing to record
            continue
        if name:
            out[name] = version
    return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "host": this_host(),
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


def capture_all(store: ObjectStore, *, code: bool = True, folder: Path | None = None,
                skip: Path | None = None, cwd: Path | None = None,
                pause: Callable[[], None] = lambda: None) -> Capture:
    """Everything a run records about its context (the slow part of ``init``).

    ``folder`` is where the code lives (default: the running script's folder); nothing under
    ``skip`` (a Hydra app's outputs, :func:`hydra_outputs`) is code. When ``folder`` is in an
    installed package, its name and version are recorded and the code is taken from ``cwd``
    (default: :func:`launch_dir`). ``pause`` is called between the steps (the run's
    :meth:`~stepstone.sdk.run.Run.pause_for_end`).
    """
    cap = Capture()
    pause()
    cap.fields["env"] = environment()
    folder = folder or script_dir()
    pause()
    package = installed_package(folder)
    if package is not None:  # an installed entry point (python -m pkg, pytest, torchrun):
        cap.fields["env"]["code_package"] = package  # its release; the user's code is
        folder = cwd or launch_dir()  # where they started it, not the venv's enclosing checkout
    pause()
    root = git_root(folder)
    if root is not None:
        capture_git(root, store, cap)
    if code:
        pause()
        snapshot_code(root or folder, root is not None, store, cap, skip)
    cap.fields["capture_notes"] = cap.notes or None  # also clears a mark of an unfinished one
    if cap.notes:
        for note in cap.notes:
            print(f"stepstone: {note}", file=sys.stderr)
    return cap
