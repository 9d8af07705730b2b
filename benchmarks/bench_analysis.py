"""Benchmark of the analysis package: Chinchilla fit time and bootstrap time.

Run:  PYTHONPATH=src python benchmarks/bench_analysis.py [--repeat 3] [--write docs/benchmarks.md]

Data: 240 synthetic runs from the published Chinchilla law (E = 1.69, A = 406.4, B = 410.7,
α = 0.34, β = 0.28) with 1% log-normal noise, N in [7e7, 1.6e10] and D in [5e9, 5e11]
(the range of Hoffmann et al. 2022), fixed seed. It times

* the Approach-3 fit (the scan of 6,400 exponent pairs, then Newton searches from 64 of them);
* 1,000 bootstrap refits (runs resampled with replacement, each refit starting from the
  full-data optimum, all 1,000 in one batch of Newton steps);
* the whole ``fit_scaling_law`` call (fit, 1,000 bootstrap refits, hold-out refit);
* the same for the compute law E + A·C^-α on 24 runs.

It prints a Markdown table; ``--write FILE`` replaces the section between
``<!-- analysis:start -->`` and ``<!-- analysis:end -->`` in FILE (appending the markers at
the end when absent).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import scipy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))

from stepstone.analysis import fit_scaling_law
from stepstone.analysis.scaling import ChinchillaLaw, ComputeLaw, FitData

START, END = "<!-- analysis:start -->", "<!-- analysis:end -->"
TRUE = (1.69, 406.4, 410.7, 0.34, 0.28)


def chinchilla_data(n_points: int = 240, seed: int = 0) -> FitData:
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n_points))
    d = np.exp(rng.uniform(np.log(5e9), np.log(5e11), n_points))
    e, a, b, alpha, beta = TRUE
    loss = (e + a / n**alpha + b / d**beta) * np.exp(rng.normal(0.0, 0.01, n_points))
    return FitData(loss=loss, n=n, d=d)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float, object]:
    """Best and median wall time, best CPU time of this process, and the last result."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(times), statistics.median(times), min(cpu), out


def run(repeat: int) -> str:
    load_before = os.getloadavg()[0]
    data = chinchilla_data()
    law = ChinchillaLaw()
    rows = []

    best, med, cpu, grid_fit = timed(lambda: law.fit(data), repeat)
    params = grid_fit.params[0]  # type: ignore[attr-defined]
    rows.append(
        (
            "Chinchilla fit, 240 runs (scan of 6,400 exponent pairs)",
            best,
            med,
            cpu,
            "E={:.3f} A={:.1f} B={:.1f} α={:.3f} β={:.3f}".format(*params),
        )
    )

    rng = np.random.default_rng(1)
    weights = rng.multinomial(240, np.full(240, 1 / 240), size=1000).astype(float)
    starts = np.repeat(params[None, :], 1000, axis=0)
    best, med, cpu, boot = timed(lambda: law.fit(data, weights=weights, start=starts), repeat)
    bp = boot.params  # type: ignore[attr-defined]
    lo, hi = np.percentile(bp[:, 3], [2.5, 97.5])
    rows.append(
        (
            "1,000 bootstrap refits (from the full-data optimum)",
            best,
            med,
            cpu,
            f"α 95% interval [{lo:.3f}, {hi:.3f}]",
        )
    )

    def whole() -> object:
        return fit_scaling_law(
            "chinchilla", n=data.n, d=data.d, loss=data.loss, n_bootstrap=1000, seed=0
        )

    best, med, cpu, fit = timed(whole, max(1, repeat // 2))
    hold = fit.holdout  # type: ignore[attr-defined]
    rows.append(
        (
            "fit_scaling_law: fit + 1,000 bootstrap + hold-out refit",
            best,
            med,
            cpu,
            f"hold-out max error {hold.max_abs_relative_error:.2%}" if hold else "",
        )
    )

    rng = np.random.default_rng(2)
    c = np.logspace(18, 22, 24)
    loss = (1.8 + 300.0 * c**-0.08) * np.exp(rng.normal(0, 0.005, c.size))
    best, med, cpu, _ = timed(lambda: ComputeLaw().fit(FitData(loss=loss, compute=c)), repeat)
    rows.append(("Compute law E + A·C^-α, 24 runs (scan of 80 exponents)", best, med, cpu, ""))

    def compute_whole() -> object:
        return fit_scaling_law("compute", compute=c, loss=loss, n_bootstrap=1000, seed=0)

    best, med, cpu, _ = timed(compute_whole, repeat)
    rows.append(("fit_scaling_law compute law: + 1,000 bootstrap + hold-out", best, med, cpu, ""))

    lines = [
        "## Analysis: scaling-law fits",
        "",
        f"Measured by `benchmarks/bench_analysis.py` (best and median of {repeat} runs) on "
        f"{platform.machine()} with {os.cpu_count()} CPU(s), Python "
        f"{platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (CPU time "
        "is that of this process: compare it when the machine is shared).",
        "Data: 240 synthetic runs from the published Chinchilla law with 1% noise. Bootstrap "
        "refits start from the full-data optimum rather than the whole search, and all refits "
        "(and all local searches) run in one batch of Newton steps.",
        "",
        "| task | wall, best (s) | wall, median (s) | CPU, best (s) | result |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    lines += [f"| {name} | {b:.2f} | {m:.2f} | {c:.2f} | {note} |" for name, b, m, c, note in rows]
    return "\n".join(lines) + "\n"


def write_section(path: pathlib.Path, body: str) -> None:
    text = path.read_text() if path.exists() else ""
    block = f"{START}\n{body}{END}"
    if START in text and END in text and text.index(START) < text.index(END):
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per task (default 3)")
    parser.add_argument("--write", type=pathlib.Path, help="Markdown file to update in place")
    args = parser.parse_args(argv)
    table = run(max(1, args.repeat))
    print(table)
    if args.write:
        write_section(args.write, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
