"""Wall time of one full ``stepstone demo`` (the research method end to end on real runs).

    .venv/bin/python benchmarks/bench_demo.py                       # prints Markdown
    .venv/bin/python benchmarks/bench_demo.py --write docs/benchmarks.md
    .venv/bin/python benchmarks/bench_demo.py --reduced             # the test's tiny form

It runs ``stepstone demo --json`` as a subprocess in a fresh temporary folder (the command a
user types, start-up included), and reports the wall time with the machine's load before and
after, the time of each training run, and what the demo found (gain per rung, verdict,
decision). ``--write FILE`` replaces the section between ``<!-- demo:start -->`` and
``<!-- demo:end -->`` (appending the markers when absent).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import command_line, machine, today, write_section

ROOT = Path(__file__).resolve().parents[1]


def _load() -> float:
    return os.getloadavg()[0]


def run_once(reduced: bool, workers: int) -> tuple[float, dict[str, Any]]:
    exe = Path(sys.executable).with_name("stepstone")
    command = [str(exe) if exe.exists() else "stepstone", "demo", "--json",
               "--workers", str(workers)]
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        command += ["--out", str(Path(tmp) / "stepstone-demo")] + (["--reduced"] * reduced)
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=tmp, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"stepstone demo failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def _fmt(value: Any, spec: str) -> str:
    return "∞" if value is None else format(float(value), spec)


def markdown(wall: float, data: dict[str, Any], load: tuple[float, float], reduced: bool,
             workers: int) -> str:
    form = "reduced (`--reduced`)" if reduced else "full"
    runs = sorted(data["runs"], key=lambda r: (r["kind"], str(r["rung"]), r.get("seed") or 0))
    lines = [
        "## Demo: `stepstone demo` end to end",
        "",
        f"Measured by `{command_line('benchmarks/bench_demo.py')}` on {today()}: {machine()}. "
        f"One {form} demo, `--workers {workers}`, run as the command a user types (start-up "
        f"included) in a fresh folder. Load average {load[0]:.1f} before, {load[1]:.1f} after: "
        "the machine was shared with other jobs, so this is an upper bound for an idle "
        "2-core machine.",
        "",
        f"**Wall time: {wall:.0f} s** (the demo's own clock: {data['wall_s']:.0f} s), "
        f"{len(data['runs'])} ladder runs + 1 smoke run.",
        "",
        "| kind | rung | seed | params | FLOPs | eval/loss | run wall (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        lines.append(f"| {r['kind']} | {r['rung']} | {r.get('seed')} | {r['n_params']:,} | "
                     f"{r['flops']:.2e} | {r['eval/loss']:.4f} | "
                     f"{_fmt(r['duration_s'], '.1f')} |")
    lines += ["", "Gain of the feature (4-shot loss) per rung over the baseline's law, with the "
              "95% interval from its bootstrap:", "",
              "| rung | FLOPs | eval/loss | gain | interval |",
              "| --- | ---: | ---: | ---: | --- |"]
    for g in data["gains"]:
        lines.append(f"| {g['label']} | {g['compute']:.2e} | {g['loss']:.4f} | "
                     f"{_fmt(g['gain'], '.3f')} | [{_fmt(g['ci_low'], '.3f')}, "
                     f"{_fmt(g['ci_high'], '.3f')}] |")
    t, d = data["trend"], data["decision"]
    lines += ["", f"Trend: **{t['verdict']}** (ln gain per decade "
              f"{_fmt(t['slope_per_decade'], '.3f')}, interval [{_fmt(t['ci_low'], '.3f')}, "
              f"{_fmt(t['ci_high'], '.3f')}]). Rule `{d['rule']}`: first verdict "
              f"**{data['first_verdict']['proposed']}**"
              + (f", second round of seeds {data['second_round']['seeds']} at "
                 f"{', '.join(data['second_round']['rungs'])}"
                 if data["second_round"].get("ran") else "")
              + f", decision **{d['proposed']}**"
              + (f", promoted into {data['promotion']['version']}" if data["promotion"] else "")
              + "."]
    s = data["stratified"]
    if s.get("weakest") and s.get("overall"):
        w, o = s["weakest"], s["overall"]
        lines += ["", f"Stratified at {s['rung']} (by position in the context window): weakest "
                  f"bucket of the feature {w['bucket']} (mean log-likelihood {w['mean']:.3f} "
                  f"nats/byte); feature − baseline overall {o['diff']:+.4f} ({o['verdict']})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", metavar="FILE", help="replace the demo section of FILE")
    parser.add_argument("--reduced", action="store_true", help="time the reduced demo")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    before = _load()
    wall, data = run_once(args.reduced, args.workers)
    text = markdown(wall, data, (before, _load()), args.reduced, args.workers)
    print(text)
    if args.write:
        write_section(args.write, "demo", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
