"""Sustained ingest through the real SDK, into SQLite and into PostgreSQL.

Each case runs in fresh processes: ``stepstone.init`` → N × ``run.log`` of 10 scalars →
``run.finish`` (which waits until every point is written), then counts the points in the
store. Reported: the time per ``log()`` call on the training thread, the wall time from
``init`` to the end of ``finish``, and the points per second that reached the store.

    python benchmarks/bench_store.py                         # SQLite, plus PostgreSQL if
    python benchmarks/bench_store.py --pg postgresql://...   # $STEPSTONE_TEST_PG is set
    python benchmarks/bench_store.py --write docs/benchmarks.md

``--write FILE`` replaces the part of FILE between ``<!-- store:start -->`` and
``<!-- store:end -->`` (added at the end when missing). PostgreSQL runs go into a
scratch schema of the given server, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

START, END = "<!-- store:start -->", "<!-- store:end -->"

WORKER = textwrap.dedent("""
    import json, sys, time
    import stepstone
    lab, calls, keys, worker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    names = [f"metric_{k}" for k in range(keys)]
    run = stepstone.init(project="bench", id=f"bench{worker}", lab=lab, save_code=False)
    run._capture.join()  # the environment capture, off the clock
    print("ready", flush=True)
    sys.stdin.readline()  # every process starts logging at once
    t1 = time.perf_counter()
    for step in range(calls):
        x = step * 1e-3
        run.log({name: x for name in names})
    t2 = time.perf_counter()
    run.finish()
    print(json.dumps({"end": time.time(), "log_s": t2 - t1}), flush=True)
""")


def _run_case(lab: str, calls: int, keys: int, processes: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONE_")}
    per = calls // processes
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, lab, str(per), str(keys),
                               f"{i:03d}"], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
             for i in range(processes)]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("a benchmark worker failed to start")
    start = time.time()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"a benchmark worker failed (exit {proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    from stepstone.store import open_lab

    with open_lab(lab) as opened:
        stored = int(opened.db.scalar("SELECT COALESCE(SUM(n), 0) FROM metric_chunks") or 0)
    wall = max(r["end"] for r in results) - start
    points = per * processes * keys
    return {
        "calls": per * processes, "points": points, "stored": stored,
        "log_us": 1e6 * sum(r["log_s"] for r in results) / (per * processes),
        "wall_s": wall, "points_per_s": stored / wall,
    }


def _pg_schema(server: str) -> tuple[str, str]:
    import psycopg

    schema = f"stepstone_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        version = str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]  # type: ignore[index]
    sep = "&" if "?" in server else "?"
    return f"{server}{sep}options=-csearch_path%3D{schema}", f"{schema}|{version}"


def _drop_schema(server: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000, help="log() calls per case")
    parser.add_argument("--keys", type=int, default=10, help="scalars per log() call")
    parser.add_argument("--processes", default="1,16",
                        help="comma-separated process counts (the calls are split among them)")
    parser.add_argument("--pg", default=os.environ.get("STEPSTONE_TEST_PG"),
                        help="a PostgreSQL server URL (default: $STEPSTONE_TEST_PG)")
    parser.add_argument("--write", metavar="FILE", help="replace the store section of FILE")
    args = parser.parse_args(argv)
    counts = [int(p) for p in args.processes.split(",")]

    from stepstone.store import init_lab

    rows = []
    pg_version = ""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="stepstone-bench-") as tmp:
        for n in counts:
            root = init_lab(Path(tmp) / f"sqlite-{n}")
            rows.append(("SQLite (WAL)", n, _run_case(str(root), args.calls, args.keys, n)))
            print(_line(*rows[-1]), file=sys.stderr)
        if args.pg:
            for n in counts:
                url, info = _pg_schema(args.pg)
                schema, pg_version = info.split("|")
                try:
                    root = init_lab(Path(tmp) / f"pg-{n}", store=url,
                                    objects=str(Path(tmp) / f"pg-{n}-objects"))
                    rows.append(("PostgreSQL", n, _run_case(str(root), args.calls, args.keys, n)))
                    print(_line(*rows[-1]), file=sys.stderr)
                finally:
                    _drop_schema(args.pg, schema)
        else:
            print("no PostgreSQL server (--pg or STEPSTONE_TEST_PG): SQLite only", file=sys.stderr)

    args.load = (load_before, os.getloadavg()[0])
    table = _markdown(rows, args, pg_version)
    print(table)
    if args.write:
        _write_section(Path(args.write), table)
        print(f"wrote the store section of {args.write}", file=sys.stderr)
    lost = sum(r["points"] - r["stored"] for _s, _n, r in rows)
    return 1 if lost else 0


def _line(store: str, n: int, r: dict[str, float]) -> str:
    return (f"{store}, {n} process(es): {r['points_per_s']:,.0f} points/s, "
            f"{r['log_us']:.1f} µs per log(), {r['wall_s']:.2f} s, "
            f"{int(r['points'] - r['stored'])} lost")


def _markdown(rows: list[tuple[str, int, dict[str, float]]], args: argparse.Namespace,
              pg_version: str) -> str:
    machine = (f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, "
               f"SQLite {__import__('sqlite3').sqlite_version}"
               + (f", PostgreSQL {pg_version} on the same machine" if pg_version else ""))
    lines = [
        "## Store ingest: SQLite and PostgreSQL",
        "",
        f"`python benchmarks/bench_store.py` on {time.strftime('%Y-%m-%d')}: {machine}. "
        f"{args.calls:,} `log()` calls of {args.keys} scalars each per case, through the real "
        "SDK (`init`, `log`, `finish`; default flush interval 0.5 s), split among the "
        "processes, which start logging together once every `init` is done; wall time runs "
        "from that start to the end of the last `finish()`, after which every point is "
        f"counted in the store. Load average {args.load[0]:.1f} before, {args.load[1]:.1f} "
        "after (the machine may be shared: compare rows of one run, not across runs).",
        "",
        "| store | processes | points | log() µs/call | wall s | points/s | points lost |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for store, n, r in rows:
        lines.append(
            f"| {store} | {n} | {int(r['points']):,} | {r['log_us']:.1f} | {r['wall_s']:.2f} | "
            f"{r['points_per_s']:,.0f} | {int(r['points'] - r['stored'])} |"
        )
    return "\n".join(lines) + "\n"


def _write_section(path: Path, table: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{START}\n{table}{END}"
    if START in text and END in text and text.index(START) < text.index(END):
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
