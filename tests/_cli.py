"""Run the CLI in-process against a lab: ``(exit code, stdout, stderr)``."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from stepstone.cli import main


def cli(lab: Path, *args: str) -> tuple[int, str, str]:
    """``stepstone ARGS --lab LAB`` (before the ``-- COMMAND`` of ``run``, ``ladder``, ...)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    cut = args.index("--") if "--" in args else len(args)
    argv = [*args[:cut], "--lab", str(lab), *args[cut:]]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()
