"""Calibration of stepstone's decisions: ladders simulated with a known truth, answered by the CLI.

    .venv/bin/python benchmarks/bench_decisions.py                        # prints Markdown
    .venv/bin/python benchmarks/bench_decisions.py --write docs/benchmarks.md
    .venv/bin/python benchmarks/bench_decisions.py --sims 20              # a quick look
    .venv/bin/python benchmarks/bench_decisions.py --sims 200 --cell "null, 3 seeds"  # one cell

Each simulation writes a fresh lab through the store (the runs a ladder would record): a dated
baseline with 9 rungs of its own from 1e17 to 1e19 FLOPs whose loss follows the law
``L(C) = 1.7 + 1e5·C^-0.25`` plus seed noise ``σ_b``, and a question whose feature runs sit
at 3 of those rungs (10^17.5, 10^18.25, 10^19) with ``k`` seeds each, the feature reaching the
loss the baseline reaches with ``G``·C (a true gain ``G`` at every rung) plus seed noise
``σ_f``. With one seed the baseline's noise floor is measured on 3 seeds of its top rung and
stored with the version. Then, as a user would, it runs ``stepstone decide Q --json`` on the
rule ``gain > 1`` (the top rung): its per-rung gains with their 95% intervals (the ones
``stepstone gain``, the report and the dashboard show), its answer and the gain's trend
verdict. It reports, per cell:

* **coverage**: the share of 95% gain intervals that hold the true gain (target 93–97%), over
  the 3 rungs of every simulation (Monte Carlo SE from the per-simulation shares), and at each
  rung apart (the top rung is at the end of the baseline law's range);
* **false yes**: ``decide`` answering yes under a null gain (G = 1; target at most 5%; the rule's
  95% interval allows 2.5% at the boundary);
* **power**: ``decide`` answering yes at G = 1.2;
* **trend false alarm**: the trend verdict rising or falling although the gain is flat at every
  rung (target at most 5%).

``--workers`` simulations run in parallel processes; every figure is deterministic in
``--seed``. ``--write FILE`` replaces the section between ``<!-- decisions:start -->`` and
``<!-- decisions:end -->``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import command_line, machine, today, write_section

E, A, ALPHA = 1.7, 1e5, 0.25
BASE_RUNGS = np.logspace(17, 19, 9)
FEATURE_RUNGS = {"f1": 10**17.5, "f2": 10**18.25, "f3": 10**19.0}
RULE = "gain > 1"


def loss_at(compute: np.ndarray | float) -> np.ndarray:
    return np.asarray(E + A * np.asarray(compute, dtype=float) ** -ALPHA)


@dataclass(frozen=True)
class Cell:
    name: str
    gain: float
    sigma_base: float
    sigma_feature: float
    seeds: int


CELLS = (
    Cell("null, 3 seeds", 1.0, 0.02, 0.02, 3),
    Cell("null, 1 seed + noise floor", 1.0, 0.02, 0.02, 1),
    Cell("G = 1.2, 3 seeds", 1.2, 0.02, 0.02, 3),
    Cell("G = 1.2, 1 seed + noise floor", 1.2, 0.02, 0.02, 1),
    Cell("null, noise-free baseline, 3 seeds", 1.0, 0.0, 0.02, 3),
    Cell("null, noisy baseline, quiet feature", 1.0, 0.03, 0.005, 3),
)


def _cli(*argv: str) -> dict[str, Any]:
    from stepstone.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(list(argv))
    return dict(json.loads(out.getvalue()))


def _template(folder: Path) -> Path:
    """An empty lab, made once and copied for every simulation."""
    from stepstone.store.lab import init_lab

    return init_lab(folder)


def simulate(job: tuple[Cell, int, int, str]) -> dict[str, Any]:
    """One ladder with known truth, written to a fresh lab and answered by the CLI."""
    from stepstone.method import baselines, questions
    from stepstone.store.lab import open_lab

    cell, index, seed, template = job
    rng = np.random.default_rng([seed, index, CELLS.index(cell)])
    with tempfile.TemporaryDirectory(prefix="bench-decisions-") as tmp:
        lab_dir = Path(tmp) / ".stepstone"
        shutil.copytree(template, lab_dir)
        with open_lab(lab_dir) as lab:
            version = baselines.create(lab, "small", {"seed": 0},
                                       reference_metric="val_loss").version
            qid = questions.create(lab, "does it save compute?", rule=RULE,
                                   metrics=["val_loss"], baseline="small").question.id
            now = time.time()
            made = 0

            def run(kind: str, rung: str, flops: float, loss: float, s: int,
                    question: str | None) -> None:
                nonlocal made
                made += 1
                run_id = f"r{made:04d}"
                lab.runs.create({"id": run_id, "name": run_id, "project": "sim", "kind": kind,
                                 "status": "finished", "created_at": now + made,
                                 "ended_at": now + made, "baseline": version,
                                 "question_id": question, "seed": s},
                                config={"seed": s, "rung": rung})
                lab.runs.write_summary(run_id, {"flops": flops, "val_loss": loss})

            base = loss_at(BASE_RUNGS) + cell.sigma_base * rng.standard_normal(BASE_RUNGS.size)
            for i, (c, y) in enumerate(zip(BASE_RUNGS, base, strict=True)):
                run("baseline", f"b{i + 1}", float(c), float(y), 0, None)
            if cell.seeds == 1:  # the noise floor: 3 seeds of the top baseline rung
                top = loss_at(BASE_RUNGS[-1]) + cell.sigma_base * rng.standard_normal(3)
                lab.baselines.record_noise(version, metric="val_loss",
                                           sd=float(np.std(top, ddof=1)), n=3, rung="b9",
                                           runs=("n0", "n1", "n2"))
            for rung, c in FEATURE_RUNGS.items():
                true_loss = float(loss_at(cell.gain * c))
                for s in range(cell.seeds):
                    y = true_loss + cell.sigma_feature * float(rng.standard_normal())
                    run("feature", rung, c, y, s, qid)
        decision = _cli("decide", qid, "--json", "--lab", str(lab_dir))
    rungs = decision["gains"].values()
    covered = [low <= cell.gain <= high for _, low, high in rungs]
    return {"cell": cell.name, "covered": covered, "answer": decision["proposed"],
            "trend": decision["trend"]["verdict"]}


def _share(hits: int, n: int) -> tuple[float, float]:
    p = hits / n if n else math.nan
    return p, math.sqrt(p * (1 - p) / n) if n else math.nan


def summarise(results: list[dict[str, Any]], cells: Sequence[Cell]) -> list[dict[str, Any]]:
    rows = []
    for cell in cells:
        mine = [r for r in results if r["cell"] == cell.name]
        n = len(mine)
        per_sim = np.array([np.mean(r["covered"]) for r in mine])
        cover = float(per_sim.mean())
        cover_se = float(per_sim.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        yes = sum(r["answer"] == "yes" for r in mine)
        alarm = sum(r["trend"] in ("rising", "falling") for r in mine)
        by_rung = np.mean([r["covered"] for r in mine], axis=0)
        rows.append({"cell": cell, "n": n, "coverage": (cover, cover_se), "by_rung": by_rung,
                     "yes": _share(yes, n), "alarm": _share(alarm, n),
                     "inconclusive": sum(r["answer"] == "inconclusive" for r in mine) / n})
    return rows


def _pct(pair: tuple[float, float]) -> str:
    return f"{100 * pair[0]:.1f}% ± {100 * pair[1]:.1f}"


def markdown(rows: list[dict[str, Any]], sims: int, wall: float,
             load: tuple[float, float], workers: int) -> str:
    lines = [
        "## Decisions: calibration with known truth",
        "",
        f"{today()} on {machine()}; {workers} worker process(es), {wall:.0f} s wall, load "
        f"average {load[0]:.1f} before and {load[1]:.1f} after. Reproduce with "
        f"`{command_line('benchmarks/bench_decisions.py')}`.",
        "",
        f"{sims} simulated ladders per cell, each a fresh lab answered by `stepstone decide "
        "--json` (see the script's docstring for the setup: a "
        "9-rung baseline law with seed noise σ_b, 3 feature rungs with k seeds and noise σ_f, "
        f"a true gain G at every rung, the rule `{RULE}` at the top rung). Figures are "
        "shares ± one Monte Carlo standard error.",
        "",
        "| cell | G | σ_b | σ_f | k | 95% interval coverage (target 93–97%) | coverage by rung "
        f"({' / '.join(FEATURE_RUNGS)}) | decide: yes | decide: inconclusive | trend false "
        "alarm (target ≤ 5%) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        c = row["cell"]
        yes = _pct(row["yes"]) + (" (false yes; target ≤ 5%)" if c.gain == 1.0 else " (power)")
        lines.append(f"| {c.name} | {c.gain:g} | {c.sigma_base:g} | {c.sigma_feature:g} | "
                     f"{c.seeds} | {_pct(row['coverage'])} | "
                     f"{' / '.join(f'{100 * v:.1f}%' for v in row['by_rung'])} | {yes} | "
                     f"{100 * row['inconclusive']:.1f}% | {_pct(row['alarm'])} |")
    if len(rows) < len(CELLS):  # a quick look at some cells: the table is all it says
        return "\n".join(lines)
    power = next(r for r in rows if r["cell"].name == "G = 1.2, 3 seeds")
    nulls = [r for r in rows if r["cell"].gain == 1.0]
    lines += [
        "",
        f"Power at a true gain of 1.2 with 3 seeds (σ = 0.02): {_pct(power['yes'])}. Worst "
        f"false yes under the null: {max(100 * r['yes'][0] for r in nulls):.1f}%. Worst trend "
        f"false alarm: {max(100 * r['alarm'][0] for r in rows):.1f}%. Coverage ranges from "
        f"{min(100 * r['coverage'][0] for r in rows):.1f}% to "
        f"{max(100 * r['coverage'][0] for r in rows):.1f}%.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sims", type=int, default=200, help="simulations per cell")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--write", metavar="FILE", help="replace the decisions section of FILE")
    parser.add_argument("--cell", action="append", metavar="NAME",
                        help="simulate only the cell NAME (repeatable; a quick look, not for "
                             "--write)")
    args = parser.parse_args(argv)
    cells = [c for c in CELLS if not args.cell or c.name in args.cell]
    if not cells:
        parser.error(f"no cell named {args.cell}; cells: {', '.join(c.name for c in CELLS)}")
    if args.cell and args.write:
        parser.error("--write needs every cell; drop --cell")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-decisions-template-") as tmp:
        template = str(_template(Path(tmp)))
        jobs = [(cell, i, args.seed, template) for cell in cells for i in range(args.sims)]
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            results = pool.map(simulate, jobs, chunksize=4)
    wall = time.perf_counter() - started
    text = markdown(summarise(results, cells), args.sims, wall, (load_before, os.getloadavg()[0]),
                    args.workers)
    print(text)
    if args.write:
        write_section(args.write, "decisions", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
