#!/usr/bin/env python
"""The SDK's hot path at two revisions, side by side: did a change slow ``log()`` or ingest?

A restructuring or a refactor must not cost the training loop anything. This script checks
out ``--base`` (a commit, tag or branch) into a temporary git worktree and measures it and
the working tree in alternating subprocesses (base, current, base, current, ...), so a
machine whose load changes during the run burdens both alike. Each subprocess, with that
tree's ``src`` first on ``PYTHONPATH``, opens a fresh lab and logs ``--calls`` calls of ten
scalars:

* ``log()``: wall time of the logging loop / calls (the training thread's cost);
* ingest: points / (time from the first ``log()`` to ``finish()`` returning), every point
  durable in the lab at the end.

    .venv/bin/python benchmarks/bench_revisions.py --base 552b8df
    .venv/bin/python benchmarks/bench_revisions.py --base 552b8df --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _report import command_line, machine, today, write_section

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import stepstone
calls = int(sys.argv[1])
rows = [{f"m{j}": float(i * 10 + j) for j in range(10)} for i in range(1024)]
run = stepstone.init(project="bench", lab=sys.argv[2], system_metrics=False)
start = time.perf_counter()
for i in range(calls):
    run.log(rows[i & 1023], step=i)
loop = time.perf_counter() - start
run.finish()
total = time.perf_counter() - start
print(json.dumps({"log_us": loop / calls * 1e6, "points_per_s": calls * 10 / total}))
"""


def measure(tree: Path, calls: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
        env.pop("STEPSTONE_LAB", None)
        done = subprocess.run([sys.executable, "-c", CHILD, str(calls), str(Path(tmp) / "lab")],
                              env=env, capture_output=True, text=True, timeout=600, cwd=tmp)
        if done.returncode != 0:
            raise RuntimeError(f"{tree}: {done.stderr.strip()[-2000:]}")
        result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def resolve(rev: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument("--calls", type=int, default=200_000, help="log() calls per process")
    parser.add_argument("--repeat", type=int, default=6, help="processes per tree")
    parser.add_argument("--write", metavar="FILE", help="write the section into FILE")
    args = parser.parse_args()
    if args.calls < 1 or args.repeat < 1:
        parser.error("--calls and --repeat must be at least 1")
    base = resolve(args.base)
    head = resolve("HEAD")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        wt = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(wt), base], cwd=ROOT,
                       check=True)
        try:
            got: dict[str, list[dict[str, float]]] = {"base": [], "current": []}
            for _ in range(args.repeat):
                got["base"].append(measure(wt, args.calls))
                got["current"].append(measure(ROOT, args.calls))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT,
                           check=False)
    load_after = os.getloadavg()[0]

    def med(label: str, key: str) -> float:
        return statistics.median(r[key] for r in got[label])

    rows = [
        "| tree | `log()` per call (median) | ingest, first `log()` to `finish()` (median) |",
        "| --- | ---: | ---: |",
        f"| base `{base}` | {med('base', 'log_us'):.2f} µs | "
        f"{med('base', 'points_per_s'):,.0f} points/s |",
        f"| current `{head}` (working tree) | {med('current', 'log_us'):.2f} µs | "
        f"{med('current', 'points_per_s'):,.0f} points/s |",
    ]
    ratio_log = med("current", "log_us") / med("base", "log_us")
    ratio_ingest = med("current", "points_per_s") / med("base", "points_per_s")
    body = "\n".join([
        "## The hot path across a change",
        "",
        f"{today()} on {machine()}; load average {load_before:.1f} before and "
        f"{load_after:.1f} after. Reproduce with "
        f"`{command_line('benchmarks/bench_revisions.py')}`.",
        "",
        f"{args.repeat} processes per tree, alternating, each {args.calls:,} `log()` calls of "
        "ten scalars into a fresh lab (system metrics off).",
        "",
        *rows,
        "",
        f"Current against base: `log()` takes {ratio_log:.2f}× the time, ingest runs at "
        f"{ratio_ingest:.2f}× the rate.",
    ])
    print(body)
    if args.write:
        write_section(args.write, "revisions", body)


if __name__ == "__main__":
    main()
