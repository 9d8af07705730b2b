"""Shared by the benchmark scripts: machine facts and marker-section replacement.

Each script owns one section of ``docs/benchmarks.md``, delimited by
``<!-- NAME:start -->`` and ``<!-- NAME:end -->``. :func:`write_section` replaces
the text between those markers (appending them at the end when absent; creating
the file, or adding its short intro, when missing) and never touches anything else.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import shlex
import sys
from pathlib import Path

INTRO = (
    "# Benchmarks\n\n"
    "Each section below is written by the script it names, and says the machine it ran on "
    "and the command that reproduces it.\n"
)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(path: str | Path, name: str, body: str) -> None:
    """Replace the ``name`` section of ``path`` with ``body`` (nothing else changes)."""
    file = Path(path)
    start, end = markers(name)
    block = f"{start}\n{body.strip()}\n{end}"
    text = file.read_text(encoding="utf-8") if file.exists() else INTRO
    if not re.search(r"^# ", text, re.MULTILINE):  # an existing file without its intro
        text = INTRO + "\n" + text.lstrip("\n")
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(file.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, file)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: CPU model, cores, memory, OS, Python."""
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    except OSError:
        pass
    return (f"{cpu_model()}, {os.cpu_count()} cores{mem}, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def today() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def command_line(script: str) -> str:
    """The command that reproduces this run, as typed from the repository root."""
    args = [a for a in sys.argv[1:]]
    return " ".join([".venv/bin/python", script, *(shlex.quote(a) for a in args)])
