"""Dashboard server time: the runs page at 100,000 runs, a one-million-point series, and a
compare of 50 runs of 100,000 points each (in 5 seed groups of 10, drawn with bands).

    .venv/bin/python benchmarks/bench_web.py [--runs 100000] [--points 1000000]
        [--compare-runs 50] [--compare-points 100000] [--write FILE]

Builds a throwaway lab (rows written straight through the store, no SDK), then times
requests through FastAPI's TestClient (server work, no network). Prints Markdown; with
``--write FILE`` it replaces the ``web`` section of FILE (``docs/benchmarks.md``). The
goal is 200 ms a request; 1 s is the most any may take. The load average is printed beside
the figures: on a shared machine they are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import command_line, machine, today, write_section

from stepstone.store.lab import init_lab, open_lab
from stepstone.store.metrics import Chunk


def series(lab, run_id: str, points: int, now: float, wobble: float = 0.0) -> None:
    """A loss curve of ``points`` steps with a spike every 99,991 steps, in 10,000-point chunks."""
    step = 0
    chunk = 10_000
    with lab.db.transaction():
        while step < points:
            steps = list(range(step, min(points, step + chunk)))
            vals = [1.0 / (s + 1) + wobble + (5.0 if s % 99_991 == 0 else 0.0) for s in steps]
            lab.metrics.write_chunks(run_id, [Chunk("loss", steps, vals, [now] * len(steps))])
            step += chunk


def build_compare(lab_root: str, runs: int, points: int) -> list[str]:
    """``runs`` runs of ``points`` points each, in groups of 10 that differ only in seed."""
    now = time.time()
    ids = []
    with open_lab(lab_root) as lab:
        for i in range(runs):
            run_id = f"cmp{i:05d}"  # not hex: never one of the listing's ids
            lab.runs.create({"id": run_id, "name": f"cmp-{i}", "project": "cmp",
                             "status": "finished", "created_at": now + 2 + i},
                            {"lr": 0.001 * (i // 10 + 1), "seed": i % 10})
            series(lab, run_id, points, now, wobble=0.01 * (i % 10))
            ids.append(run_id)
    return ids


def build(root: Path, runs: int, points: int) -> tuple[str, str]:
    lab_root = init_lab(root)
    statuses = ("finished", "finished", "finished", "crashed", "running", "failed")
    now = time.time()
    ids = random.Random(0).sample(range(16**8), runs)  # distinct 8-hex-digit ids
    with open_lab(lab_root) as lab:
        for i in range(runs):  # one transaction per run, as the SDK writes them
            lab.runs.create({
                "id": f"{ids[i]:08x}", "name": f"run-{i}", "project": f"p{i % 5}",
                "status": statuses[i % len(statuses)], "created_at": now - i,
                "tags": [f"t{i % 3}"], "last_step": 1000, "kind": "adhoc",
            }, {"lr": 0.001 * (i % 10), "model": {"width": 64}})
        big = "bigseries"
        lab.runs.create({"id": big, "name": "big", "project": "p0", "status": "finished",
                         "created_at": now + 1})
        series(lab, big, points, now)
    return str(lab_root), big


def timed(client, url: str, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.text[:200])
    return statistics.median(times) * 1000, min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--compare-runs", type=int, default=50)
    parser.add_argument("--compare-points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", metavar="FILE", default=None)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from stepstone.web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        build_start = time.perf_counter()
        lab_root, big = build(Path(tmp), args.runs, args.points)
        compared = build_compare(lab_root, args.compare_runs, args.compare_points)
        built = time.perf_counter() - build_start
        picked = "&".join(f"run={run_id}" for run_id in compared)
        cmp = f"{args.compare_runs} runs × {args.compare_points:,} points"
        client = TestClient(create_app(lab_root))
        rows = [
            (f"runs page (HTML, 50 of {args.runs:,} runs, unfinished first)",
             "/runs"),
            (f"runs page filtered (status=finished, name~'run-9', of {args.runs:,})",
             "/runs?status=finished&name=run-9"),
            (f"runs page sorted by name, page 100 (of {args.runs:,})",
             "/runs?sort=name&order=asc&page=100"),
            (f"runs API (JSON, 50 of {args.runs:,})", "/api/runs"),
            (f"series: {args.points:,} points → 1,500 (min/max envelope)",
             f"/api/runs/{big}/series?key=loss&points=1500"),
            (f"compare: {args.points:,} points → 2,000 (min/max envelope)",
             f"/api/compare/series?run={big}&key=loss&points=2000"),
            (f"compare page (HTML) of {cmp}", f"/compare?{picked}&key=loss"),
            (f"compare series of {cmp} → 2,000 each, 5 seed groups with bands",
             f"/api/compare/series?{picked}&key=loss&points=2000"),
        ]
        load_before = os.getloadavg()
        results = [(label, *timed(client, url, args.repeat)) for label, url in rows]
        load_after = os.getloadavg()
    load = (f"Load average (1 min) {load_before[0]:.1f} before the timings and "
            f"{load_after[0]:.1f} after, on {os.cpu_count()} cores: the machine was shared, so "
            "these are upper bounds for an idle one.")
    slowest = max(med for _, med, _ in results)
    verdict = ("within the goal" if slowest <= 200 else "within 1 s" if slowest <= 1000
               else "OVER 1 s")
    lines = [
        "## Dashboard (`stepstone ui`)",
        "",
        f"Server time per request through FastAPI's TestClient (no network), median and best of "
        f"{args.repeat}; lab built in {built:.1f} s. {today()}; {machine()}. {load}",
        "",
        f"Goal: 200 ms a request, at most 1 s. Slowest median: {slowest:.0f} ms ({verdict}).",
        "",
        "| request | median ms | best ms |",
        "| --- | ---: | ---: |",
        *[f"| {label} | {med:.1f} | {best:.1f} |" for label, med, best in results],
        "",
        f"Reproduce: `{command_line('benchmarks/bench_web.py')}`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "web", text)


if __name__ == "__main__":
    main()
