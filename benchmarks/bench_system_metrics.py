"""Tracking overhead with the system-metrics sampler on (issue: within the overhead budget).

    .venv/bin/python benchmarks/bench_system_metrics.py
    .venv/bin/python benchmarks/bench_system_metrics.py --write docs/benchmarks.md

Two measures. The cost of one sample: ``Sampler.take()`` with the probes a run gets on this
machine (psutil; NVML too where a GPU answers), its CPU time on the sampling thread and its
wall time, the median of many; divided by the interval it is the share of one core the
sampler takes. And the A/B on a reference task: the MQAR training loop
(``stepstone.tasks.mqar.train``, logging every step) run with a stepstone run whose sampler
is off, on at the default 10 s, and on every 0.1 s (100 times the default rate, so that a
run of a few seconds takes tens of samples), in an order that rotates each round; the
paired overhead of each sampler arm against the sampler-off arm of its round. ``log()`` does
not know the sampler exists, so the time inside ``log()`` is the same in every arm.
``--write FILE`` replaces the section between ``<!-- system-metrics:start -->`` and
``<!-- system-metrics:end -->``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import command_line, machine, today, write_section
from bench_task_overhead import TimedRun

TARGET = 0.01
ARMS = {"off": False, "10 s": 10.0, "0.1 s": 0.1}


def sample_cost(samples: int) -> dict[str, Any]:
    """Median CPU and wall time of one sample, with this machine's probes."""
    from stepstone.sdk.system import Sampler, default_probes

    probes = default_probes()
    got: list[Any] = []
    sampler = Sampler(lambda *s: got.append(s), 10.0, probes)
    sampler.take()  # the first reading primes psutil's counters
    cpu, wall = [], []
    for _ in range(samples):
        c0, w0 = time.thread_time(), time.perf_counter()
        sampler.take()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
        time.sleep(0.005)
    return {"probes": [type(p).__name__ for p in probes], "keys": len(got[-1][2]),
            "cpu": statistics.median(cpu), "wall": statistics.median(wall), "n": samples}


def one(setting: float | bool, steps: int, lab: Path) -> tuple[float, float, int]:
    """(steps per second, process CPU seconds per step, samples taken) of one training run."""
    import stepstone
    from stepstone.tasks.mqar import MQARConfig, train

    cfg = MQARConfig(steps=steps, log_every=1, eval_every=0, eval_examples=16, seed=0)
    run = stepstone.init(project="sampler", lab=lab, config={}, system_metrics=setting)
    if run._capture is not None:  # the one-off start-up capture, as in bench_task_overhead
        run._capture.join()
    cpu0 = time.process_time()  # every thread: training, writer, sampler
    summary = train(cfg, run=TimedRun(run))
    cpu = (time.process_time() - cpu0) / steps
    taken = run._sampler.samples if run._sampler is not None else 0
    run.finish()
    return steps / summary["train/time_s"], cpu, taken


def measure(rounds: int, steps: int) -> dict[str, Any]:
    from stepstone.store import init_lab

    lab = init_lab(Path(tempfile.mkdtemp(prefix="bench-sampler-")))
    one(False, 20, lab)  # warm up torch and the imports
    names = list(ARMS)
    rate: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    taken: dict[str, list[int]] = {n: [] for n in names}
    paired: dict[str, list[float]] = {n: [] for n in names if n != "off"}
    paired_cpu: dict[str, list[float]] = {n: [] for n in names if n != "off"}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        got = {name: one(ARMS[name], steps, lab) for name in order}
        for name in names:
            rate[name].append(got[name][0])
            cpu[name].append(got[name][1])
            taken[name].append(got[name][2])
        for name in paired:
            paired[name].append(got["off"][0] / got[name][0] - 1.0)
            paired_cpu[name].append(got[name][1] / got["off"][1] - 1.0)
    out: dict[str, Any] = {"rounds": rounds, "steps": steps}
    for name in names:
        out[name] = {"rate": statistics.median(rate[name]), "cpu": statistics.median(cpu[name]),
                     "samples": statistics.median(taken[name])}
        if name in paired:
            for label, values in (("wall_overhead", paired[name]),
                                  ("cpu_overhead", paired_cpu[name])):
                q = statistics.quantiles(values, n=4) if rounds > 1 else [values[0]] * 3
                out[name][label] = (statistics.median(values), q[0], q[2])
    return out


def markdown(cost: dict[str, Any], m: dict[str, Any], load: tuple[float, float]) -> str:
    share_default = cost["cpu"] / 10.0
    def spread(triple: tuple[float, float, float]) -> str:
        mid, low, high = (v * 100 for v in triple)
        return f"{mid:+.2f} % ({low:+.2f} … {high:+.2f})"

    def accounted(name: str) -> float:
        """The samples' CPU over the run's process CPU: the sampler's share, by accounting."""
        arm = m[name]
        return float(arm["samples"] * cost["cpu"] / (m["steps"] * arm["cpu"]))

    rows = []
    for name in ARMS:
        arm = m[name]
        label = "sampler off" if name == "off" else f"sampler every {name}"
        wall = "–" if name == "off" else spread(arm["wall_overhead"])
        cpu = "–" if name == "off" else spread(arm["cpu_overhead"])
        rows.append(f"| {label} | {arm['rate']:.1f} | {arm['cpu'] * 1e3:.1f} ms | "
                    f"{arm['samples']:g} | {accounted(name) * 100:.3f} % | {wall} | {cpu} |")
    default = accounted("10 s")
    low, high = m["10 s"]["cpu_overhead"][1], m["10 s"]["cpu_overhead"][2]
    if default < TARGET and high < TARGET:
        verdict = "**met**: by the accounted cost and within the A/B quartiles"
    elif default < TARGET and low < TARGET:
        verdict = ("**met by the accounted cost**; **not resolved** by the A/B, whose "
                   "quartiles at this load are wider than the effect")
    else:
        verdict = "**not met**"
    fast = m["0.1 s"]["cpu_overhead"]
    return "\n".join([
        "## Tracking overhead with the system-metrics sampler on",
        "",
        f"- Machine: {machine()}. Measured {today()}; load average {load[0]:.2f} before, "
        f"{load[1]:.2f} after (2 cores, shared with other engineers' test suites: the A/B "
        "rounds swing by several percent either way).",
        f"- Reproduce: `{command_line('benchmarks/bench_system_metrics.py')}`",
        f"- One sample ({', '.join(cost['probes'])}, {cost['keys']} `system/*` keys; no GPU "
        f"on this machine): **{cost['cpu'] * 1e3:.2f} ms CPU** on the sampling thread, "
        f"{cost['wall'] * 1e3:.2f} ms wall (median of {cost['n']}). At the default interval "
        f"of 10 s that is **{share_default * 100:.4f} % of one core**; the training thread "
        "does none of it (`log()` is unchanged: no lock, no check, no I/O).",
        f"- A/B on `stepstone.tasks.mqar.train` ({m['steps']} steps, 5 metrics logged every "
        f"step), {m['rounds']} rounds, arm order rotating each round. Wall overhead: each "
        "round's sampler-off steps/s over the arm's, less one; CPU overhead: the arm's process "
        "CPU per step (every thread: training, writer, sampler) over the sampler-off arm's, "
        "less one. CPU time is far less disturbed by the other processes on the machine than "
        "wall time.",
        "",
        "| arm | steps/s (median) | process CPU per step | samples per run | accounted: "
        "samples' CPU / process CPU | wall overhead: median (quartiles) | CPU overhead: "
        "median (quartiles) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Target: the sampler within the < {TARGET * 100:.0f} % tracking budget at its "
        f"default 10 s: {verdict}. Accounted, it costs {cost['cpu'] * 1e3:.2f} ms of CPU per "
        f"sample, {default * 100:.3f} % of this loop's CPU at 10 s; at 100 times the rate the "
        f"A/B does see it ({fast[0] * 100:+.2f} %, quartiles {fast[1] * 100:+.2f} … "
        f"{fast[2] * 100:+.2f}) where accounting predicts {accounted('0.1 s') * 100:+.2f} %.",
        "",
        "The sampler is on by default (every 10 s, as wandb): the stepstone runs of the other "
        "sections start it too, and those shorter than 10 s take no sample.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--write", metavar="FILE", help="write the section into FILE")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    cost = sample_cost(args.samples)
    m = measure(args.rounds, args.steps)
    print(cost, m, file=sys.stderr)
    text = markdown(cost, m, (before, os.getloadavg()[0]))
    print(text)
    if args.write:
        write_section(args.write, "system-metrics", text)


if __name__ == "__main__":
    main()
