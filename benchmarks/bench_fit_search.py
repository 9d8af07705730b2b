#!/usr/bin/env python
"""Does the scaling-law fit find the optimum of Hoffmann et al.'s full grid? Simulated laws.

    .venv/bin/python benchmarks/bench_fit_search.py --base f9472cf [--laws 60] [--write FILE]

``--base`` is a revision that fits Chinchilla's law by L-BFGS from Hoffmann et al.'s grid of
4,500 starts (before the scan and Newton searches; ``f9472cf``). The script checks it out into
a temporary git worktree, makes two sets of ``--laws`` Chinchilla laws with known truth
(seeds 1000 + i and 5000 + i): random, ladder and IsoFLOP designs of 16 to 240 runs, noise
0–5% on log L, and every fifth law odd (E of 0.01, 8 or 0; an exponent of 0.03, or 1.6 and
1.3, or 0.06 and 0.08, or 0.05 and 1.2; a negligible B; 8% noise; 20 runs; outliers of +30%
or ×2.5), and fits each to all its runs and without its largest-compute fifth (the hold-out
fit), in three subprocesses: the working tree; the base as it ships (the best tenth of the
grid going on after ten steps); and the base's **full grid** (every start run to
convergence or until it crawls), the reference. A fit's objective is counted as the same as
the reference's within 1e-6 relative (or both below 1e-15: a noise-free law fitted
exactly), lower, higher by at most 1e-4 relative, or higher by more (another basin).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _report import command_line, machine, today, write_section

ROOT = Path(__file__).resolve().parents[1]
ODD = ("tinyE", "flatA", "steep", "outliers", "negligibleB", "hugeE", "lowexp", "unequal",
       "noisy", "few", "bigoutliers", "noE")

CHILD = r"""
import json, sys, time
import numpy as np
from stepstone.analysis import scaling
from stepstone.analysis.scaling import ChinchillaLaw, FitData
folder, mode = sys.argv[1], sys.argv[2]
if mode == "full":
    scaling.GRID_KEEP = 1.0  # the base's grid with no start left behind
out = {}
for name in sorted(p for p in __import__("os").listdir(folder) if p.endswith(".npz")):
    z = np.load(f"{folder}/{name}")
    data = FitData(loss=z["loss"], n=z["n"], d=z["d"])
    k = max(1, round(0.2 * data.size))
    order = np.argsort(z["n"] * z["d"], kind="stable")
    for part, sub in (("all", data), ("hold-out", data.subset(order[: data.size - k]))):
        start = time.process_time()
        fit = ChinchillaLaw().fit(sub)
        out[f"{name}:{part}"] = {"f": float(fit.objective[0]), "cpu": time.process_time() - start}
print(json.dumps(out))
"""


def law(seed: int, i: int) -> tuple[dict[str, np.ndarray], str]:
    """The runs of simulated law ``i`` of the set ``seed`` and its oddity ("" if none)."""
    r = np.random.default_rng(seed + i)
    kind = ("random", "ladder", "isoflop")[i % 3]
    m = int(r.choice([36, 64, 120, 240]))
    e = float(np.exp(r.uniform(np.log(0.3), np.log(3.0))))
    al, be = float(r.uniform(0.1, 0.9)), float(r.uniform(0.1, 0.9))
    a = float(np.exp(r.uniform(np.log(50), np.log(5e4))))
    b = float(np.exp(r.uniform(np.log(50), np.log(5e4))))
    noise = float(r.choice([0.0, 0.003, 0.01, 0.02, 0.05]))
    odd = ODD[(i // 5) % len(ODD)] if i % 5 == 4 else ""
    e = {"tinyE": 0.01, "hugeE": 8.0, "noE": 1e-6}.get(odd, e)
    al, be = {"flatA": (0.03, be), "steep": (1.6, 1.3), "lowexp": (0.06, 0.08),
              "unequal": (0.05, 1.2)}.get(odd, (al, be))
    b = 1e-3 if odd == "negligibleB" else b
    noise = 0.08 if odd == "noisy" else noise
    m = 20 if odd == "few" else m
    if kind == "ladder":
        k = int(np.sqrt(m))
        n = np.repeat(np.logspace(7.3, 10.2, k), k)
        d = np.tile(np.logspace(9.3, 11.7, k), k)
    elif kind == "isoflop":  # a few budgets, model sizes across each
        sizes = [np.logspace(np.log10(c) / 2 - 5.2, np.log10(c) / 2 - 3.2, m // 6)
                 for c in np.logspace(18, 21, 6)]
        n = np.concatenate(sizes)
        d = np.concatenate([c / (6 * s) for c, s in zip(np.logspace(18, 21, 6), sizes,
                                                         strict=True)])
    else:
        n = np.exp(r.uniform(np.log(5e7), np.log(2e10), m))
        d = np.exp(r.uniform(np.log(3e9), np.log(6e11), m))
    loss = (e + a / n**al + b / d**be) * np.exp(r.normal(0, noise, n.size))
    if odd in ("outliers", "bigoutliers"):
        j = r.choice(loss.size, max(2, loss.size // 15), replace=False)
        loss[j] *= 1.3 if odd == "outliers" else 2.5
    return {"n": n, "d": d, "loss": loss}, odd


def fits(tree: Path, folder: Path, mode: str) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode], env=env,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{tree} ({mode}): {done.stderr.strip()[-2000:]}")
    result: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def verdict(ref: float, got: float) -> str:
    if ref < 1e-15 and got < 1e-15:
        return "same"
    rel = (got - ref) / ref
    return ("lower" if rel < -1e-6 else "same" if rel <= 1e-6
            else "higher, ≤ 1e-4" if rel <= 1e-4 else "higher, other basin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="a revision that fits by L-BFGS")
    parser.add_argument("--laws", type=int, default=60, help="laws in each of the two sets")
    parser.add_argument("--write", metavar="FILE", help="write the section into FILE")
    args = parser.parse_args()
    base = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "laws"
        folder.mkdir()
        for seed in (1000, 5000):
            for i in range(args.laws):
                runs, odd = law(seed, i)
                np.savez(folder / f"{seed}-{i:03d}-{odd or 'plain'}.npz", **runs)
        wt = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(wt), base], cwd=ROOT,
                       check=True)
        try:
            ref = fits(wt, folder, "full")
            old = fits(wt, folder, "shipped")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT,
                           check=False)
        new = fits(ROOT, folder, "current")
    kinds = ("same", "lower", "higher, ≤ 1e-4", "higher, other basin")
    rows = []
    for label, got in ((f"base `{base}`: the grid's best tenth after ten steps", old),
                       ("working tree: scan and Newton searches", new)):
        count = {k: 0 for k in kinds}
        worst = 0.0
        for key, r in ref.items():
            count[verdict(r["f"], got[key]["f"])] += 1
            if r["f"] > 1e-15:
                worst = max(worst, (got[key]["f"] - r["f"]) / r["f"])
        cpu = sum(v["cpu"] for v in got.values())
        rows.append(f"| {label} | " + " | ".join(str(count[k]) for k in kinds)
                    + f" | {worst:.1e} | {cpu:.0f} s |")
    body = "\n".join([
        "## Scaling-law fits: the search against the full grid",
        "",
        f"{today()} on {machine()}; load average {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after. Reproduce with "
        f"`{command_line('benchmarks/bench_fit_search.py')}`.",
        "",
        f"{2 * args.laws} simulated Chinchilla laws, each fitted to all its runs and without its "
        f"largest-compute fifth ({len(ref)} fits); the reference is base `{base}`'s full grid "
        f"(all 4,500 starts by L-BFGS, {sum(v['cpu'] for v in ref.values()):.0f} s of CPU). "
        "Objective against the reference's:",
        "",
        "| search | same | lower | higher, ≤ 1e-4 | higher, other basin | most higher "
        "(relative) | CPU, all fits |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
    ])
    print(body)
    if args.write:
        write_section(args.write, "fit-search", body)


if __name__ == "__main__":
    main()
