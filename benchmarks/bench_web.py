"""Dashboard server time: the runs page at 10,000 runs, and a one-million-point series (LTTB).

    .venv/bin/python benchmarks/bench_web.py [--runs 10000] [--points 1000000] [--write FILE]

Builds a throwaway lab (rows written straight through the store, no SDK), then times
requests through FastAPI's TestClient (server work, no network). Prints Markdown; with
``--write FILE`` it replaces the ``web`` section of FILE (``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import command_line, machine, today, write_section

from stepstone.store.lab import init_lab, open_lab
from stepstone.store.metrics import Chunk


def build(root: Path, runs: int, points: int) -> tuple[str, str]:
    lab_root = init_lab(root)
    statuses = ("finished", "finished", "finished", "crashed", "running", "failed")
    now = time.time()
    with open_lab(lab_root) as lab:
        for i in range(runs):  # one transaction per run, as the SDK writes them
            lab.runs.create({
                "id": uuid.uuid4().hex[:8], "name": f"run-{i}", "project": f"p{i % 5}",
                "status": statuses[i % len(statuses)], "created_at": now - i,
                "tags": [f"t{i % 3}"], "last_step": 1000, "kind": "adhoc",
            }, {"lr": 0.001 * (i % 10), "model": {"width": 64}})
        big = uuid.uuid4().hex[:8]
        lab.runs.create({"id": big, "name": "big", "project": "p0", "status": "finished",
                         "created_at": now + 1})
        step = 0
        chunk = 10_000
        with lab.db.transaction():
            while step < points:
                steps = list(range(step, min(points, step + chunk)))
                vals = [1.0 / (s + 1) + (5.0 if s % 99_991 == 0 else 0.0) for s in steps]
                lab.metrics.write_chunks(big, [Chunk("loss", steps, vals, [now] * len(steps))])
                step += chunk
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
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", metavar="FILE", default=None)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from stepstone.web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        build_start = time.perf_counter()
        lab_root, big = build(Path(tmp), args.runs, args.points)
        built = time.perf_counter() - build_start
        client = TestClient(create_app(lab_root))
        rows = [
            (f"runs page (HTML, 50 of {args.runs:,} runs, unfinished first)",
             "/runs"),
            (f"runs page filtered (status=finished, name~'run-9', of {args.runs:,})",
             "/runs?status=finished&name=run-9"),
            (f"runs page sorted by name, page 100 (of {args.runs:,})",
             "/runs?sort=name&order=asc&page=100"),
            (f"runs API (JSON, 50 of {args.runs:,})", "/api/runs"),
            (f"series: {args.points:,} points → 1,500 (LTTB)",
             f"/api/runs/{big}/series?key=loss&points=1500"),
            (f"compare: {args.points:,} points → 2,000 (LTTB)",
             f"/api/compare/series?run={big}&key=loss&points=2000"),
        ]
        results = [(label, *timed(client, url, args.repeat)) for label, url in rows]
    lines = [
        "## Dashboard (`stepstone ui`)",
        "",
        f"Server time per request through FastAPI's TestClient (no network), median and best of "
        f"{args.repeat}; lab built in {built:.1f} s. {today()}; {machine()}.",
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
