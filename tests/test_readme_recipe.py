"""The README's "Answer a question with it" block, run exactly as printed on a fresh lab.

The block is read out of README.md here, so the README and this test cannot drift apart; only
``stepstone`` and ``python`` are pointed at the code under test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import stepstone

ROOT = Path(__file__).resolve().parents[1]


def readme_block(section: str) -> str:
    """The first ```bash block under the README heading ``section``."""
    text = (ROOT / "README.md").read_text()
    body = text[text.index(f"## {section}\n"):]
    body = body[: body.find("\n## ", 1)] if "\n## " in body[1:] else body
    start = body.index("```bash\n") + len("```bash\n")
    return body[start: body.index("```", start)]


def test_the_readme_recipe_runs_as_printed(tmp_path: Path) -> None:
    block = readme_block("Answer a question with it")
    assert "examples/base.yaml" in block and "--set kshot_k=4" in block
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", work / "examples")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, target in (("stepstone", f'"{sys.executable}" -m stepstone'),
                         ("python", f'"{sys.executable}"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(Path(stepstone.__file__).resolve().parents[1]),
           "STEPSTONE_SYSTEM_METRICS": "0"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-x", "-c", block], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    out = done.stdout + done.stderr
    assert "verified: the feature is on and nothing else changed" in out
    assert "smoke run " in out and "was rerun as" not in out
    assert "launched 3" in out
    assert (work / ".stepstone").is_dir()
