"""Run the CLI in-process against a lab: ``(exit code, stdout, stderr)``."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from stepstone.cli import main


def cli(lab: Path, *args: str) -> tuple[int, str, str]:
    """``stepstone ARGS --lab LAB`` (``run`` takes ``--lab`` before its ``-- COMMAND``)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    argv = ([args[0], "--lab", str(lab), *args[1:]] if args[0] == "run"
            else [*args, "--lab", str(lab)])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()
