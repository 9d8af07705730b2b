"""``stepstone demo``: the research method end to end, on a real task, in a few minutes.

The demo is a script of the ordinary workflow, calling the same library functions as the
command line: an idea and a question with a gain rule and a time box; a dated baseline of the
byte-level language model (:mod:`stepstone.tasks.bytelm`); the feature's plan with its config
diff verified, then a smoke run; the baseline's scaling ladder and its noise floor (seeds of
one rung); the feature's ladder linked to the question, each run a real training subprocess
launched through :func:`~stepstone.launch.runner.launch_plan` and the local executor; the
baseline's law, the feature's gain per rung with its trend and a stratified comparison; the
first verdict and, when it is inconclusive, the power analysis (what would settle it) and a
second round of fresh seeds at the rungs it names; the decision; on yes, the promotion into a
new dated baseline; the notebook pages and the question's report (Markdown, HTML, figures).

The feature is the k-shot loss (k = 4, seed 003) in place of cross-entropy for training;
evaluation stays cross-entropy. The rule reads the gain at the feature ladder's top rung (see
docs/demo.md for why not at every rung). Whatever the rule decides is what the demo reports.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepstone.demo.display import Display
from stepstone.errors import UsageError
from stepstone.launch.executors import local_executor
from stepstone.launch.plan import plan_ladder
from stepstone.launch.process import LaunchSpec
from stepstone.launch.runner import RungJob, Watch, counts, launch_plan, plan_state
from stepstone.launch.smoke import run_smoke
from stepstone.method import baselines, decide, evidence, ideas, noise, notebook, questions
from stepstone.method import selection as aio
from stepstone.method.decide import Proposal
from stepstone.method.preflight import plan_verifier, prepare_launch
from stepstone.method.promote import promote
from stepstone.report import build_report, write_report
from stepstone.store.lab import Lab, init_lab, open_lab

TIER = "bytelm-demo"
METRIC = "eval/loss"
RULE = "gain >= 1.05"
FEATURE_KEY = "kshot_k"
FEATURE_VALUE = 4
COMMAND = (sys.executable, "-m", "stepstone.tasks.bytelm")
BASE_CONFIG: dict[str, Any] = {
    "seq_len": 64, "batch_size": 16, "d_model": 64, "n_layers": 2, "n_heads": 4,
    "mlp_ratio": 4, "attention": "full", "position": "rope", "steps": 120, "lr": 3e-3,
    "warmup_steps": 20, "weight_decay": 0.1, "kshot_k": 1, "precision": "fp32",
    "eval_windows": 64, "eval_every": 0, "log_every": 10, "seed": 0, "threads": 1,
    "device": "cpu",
}
NOISE_SEEDS = 4
"""Seeds of the baseline's noise-floor rung: a one-seed feature rung borrows its spread."""
MAX_SEEDS = 5
"""The most seeds per rung the second round runs (the power analysis may ask for more: the
demo then says so, and the decision reads what ran). Four fresh seeds take two waves of
the two workers, as three do."""


@dataclass(frozen=True)
class Rung:
    """One rung of the ladders: a model size and a training length."""

    name: str
    d_model: int
    n_layers: int
    steps: int

    def overrides(self) -> list[str]:
        return [f"d_model={self.d_model}", f"n_layers={self.n_layers}", f"steps={self.steps}",
                f"+rung={self.name}"]


FULL_RUNGS = (Rung("r1", 32, 1, 60), Rung("r2", 48, 1, 90), Rung("r3", 64, 2, 120),
              Rung("r4", 80, 2, 160), Rung("r5", 96, 2, 220), Rung("r6", 112, 3, 260))
"""The baseline's ladder: compute from about 5e9 to 8e11 FLOPs (2 decades); the feature runs
at r4 and r5, inside the range the law is fitted on (the loss it reaches at r5, the baseline
reaches between r5 and r6), and the rule reads r5; the noise floor is measured at r3."""
REDUCED_RUNGS = (Rung("r1", 16, 1, 12), Rung("r2", 24, 1, 20), Rung("r3", 32, 1, 30),
                 Rung("r4", 48, 1, 45))


@dataclass(frozen=True)
class Layout:
    """Which rungs each part of the demo runs."""

    baseline: tuple[Rung, ...]
    feature: tuple[Rung, ...]  # smallest first: the last is the top rung the rule reads
    noise: Rung


FULL = Layout(FULL_RUNGS, FULL_RUNGS[3:5], FULL_RUNGS[2])
REDUCED = Layout(REDUCED_RUNGS, REDUCED_RUNGS[2:], REDUCED_RUNGS[1])


@dataclass(frozen=True)
class DemoOptions:
    out: Path = Path("stepstone-demo")
    lab: Path | None = None
    reduced: bool = False
    workers: int = 2
    bootstrap: int = 200
    quiet: bool = False


@dataclass
class DemoResult:
    """What the demo made, with the numbers it found (``to_dict()`` for JSON)."""

    lab: str
    question_id: str = ""
    idea_id: str = ""
    baseline_version: str = ""
    diff: str = ""
    smoke_run: str = ""
    plans: dict[str, str] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    noise: dict[str, Any] = field(default_factory=dict)
    fit_id: str | None = None
    law: dict[str, Any] = field(default_factory=dict)
    gains: list[dict[str, Any]] = field(default_factory=list)
    trend: dict[str, Any] = field(default_factory=dict)
    stratified: dict[str, Any] = field(default_factory=dict)
    first_verdict: dict[str, Any] = field(default_factory=dict)
    second_round: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] = field(default_factory=dict)
    promotion: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    ui_command: str = ""
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def default_out(start: Path | None = None) -> Path:
    """``./stepstone-demo``, or ``-2``, ``-3``... when an earlier demo's lab is there."""
    base = (start or Path.cwd()) / "stepstone-demo"
    candidate, n = base, 1
    while (candidate / ".stepstone").exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def run_demo(options: DemoOptions) -> DemoResult:
    """Run the whole demo; every artefact lands in the lab (and its report folder)."""
    started = time.perf_counter()
    out = options.out.expanduser().resolve()
    root = init_lab(options.lab.expanduser() if options.lab else out)
    out.mkdir(parents=True, exist_ok=True)
    display = Display(quiet=options.quiet, total_stages=12)
    result = DemoResult(lab=str(root))
    layout = REDUCED if options.reduced else FULL
    try:
        with display, open_lab(root) as lab:
            if lab.baselines.list(TIER):
                raise UsageError(f"the lab at {root} already holds a demo ({TIER}): give "
                                 f"another --out, or look at it with `{stepstone_command()} ui "
                                 f"--lab {root}`")
            _baseline(lab, result, display, options)
            _ask(lab, result, display, layout)
            _plan_and_smoke(lab, result, display, out)
            _baseline_ladder(lab, result, display, options, out, layout)
            _noise_floor(lab, result, display, options, out, layout)
            _feature_ladder(lab, result, display, options, out, layout, seeds=None, only=None)
            first = _first_verdict(lab, result, display)
            _second_round(lab, result, display, options, out, layout, first)
            _evidence(lab, result, display, options)
            _decide(lab, result, display)
            _promote(lab, result, display)
            _record_runs(lab, result)
            _report(lab, result, display, options)
    finally:
        result.wall_s = time.perf_counter() - started
    result.ui_command = f"{stepstone_command()} ui --lab {_shown(root)}"
    return result


def stepstone_command() -> str:
    """How to call ``stepstone`` from this shell: the name when it is on PATH, else the one
    beside this interpreter (``bash scripts/demo.sh`` puts it in ``.venv/bin`` only), else
    ``python -m stepstone``."""
    beside = Path(sys.executable).parent / "stepstone"
    on_path = shutil.which("stepstone")
    if on_path is not None and (not beside.exists()
                                or Path(on_path).resolve() == beside.resolve()):
        return "stepstone"
    if beside.exists():
        return _shown(beside)
    return f"{_shown(Path(sys.executable))} -m stepstone"


def _shown(path: Path) -> str:
    try:
        return "./" + str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- 2. the idea and the question ------------------------------------------------------
def _ask(lab: Lab, result: DemoResult, display: Display, layout: Layout) -> None:
    stage = display.stage("idea and question")
    top = layout.feature[-1].name
    notebook.plan_day(lab, "Demo day: test the k-shot loss (k = 4) as a training loss for the "
                      f"byte LM against a dated baseline, by compute-efficiency gain on a "
                      f"scaling ladder; the rule `{RULE}` decides at the top rung ({top}), "
                      "with a second round of seeds if the first one is inconclusive.")
    idea = ideas.add(lab, "Train the byte LM on the k-shot loss (k = 4)",
                     source="seed 003: the k-shot loss -log(1 - (1 - p)^k)", cost="10m",
                     signal="medium")
    question = questions.create(
        lab, "Does training on the 4-shot loss reach the baseline's evaluation loss "
             f"(cross-entropy, nats per byte) with at least 5% less compute at {top}?",
        rule=RULE, metrics=[METRIC], idea=idea.idea.id, timebox="1h", baseline=TIER).question
    notebook.note(lab, "Why this feature: when the demo was written, a quick measurement at two "
                  "sizes (d_model 64 and 96, one seed a side; see docs/demo.md) gave the 4-shot "
                  "loss a lower evaluation loss than cross-entropy at equal compute, where lr "
                  "1e-2, ProRes and LayerNorm scaling did not help. That was not measured in "
                  "this lab and is weak evidence: the ladder below and the gain rule decide.",
                  question=question.id)
    result.idea_id, result.question_id = idea.idea.id, question.id
    display.done(stage, f"{question.id}: {RULE}")


# -- 1. the dated baseline ------------------------------------------------------------------
def _baseline(lab: Lab, result: DemoResult, display: Display, options: DemoOptions) -> None:
    stage = display.stage("dated baseline")
    config = dict(BASE_CONFIG)
    if options.reduced:
        config.update(eval_windows=16, steps=30, warmup_steps=5, log_every=5)
    row = baselines.create(lab, TIER, config, reference_metric=METRIC)
    result.baseline_version = row.version
    display.done(stage, row.version)


# -- 3. the plan, verified, and a smoke run -----------------------------------------------
def _spec(result: DemoResult, config: dict[str, Any], out: Path, name: str) -> Any:
    return LaunchSpec(command=list(COMMAND), project="bytelm", name=name, config=config,
                      kind="feature", question_id=result.question_id,
                      baseline=result.baseline_version,
                      config_delta={FEATURE_KEY: FEATURE_VALUE}, cwd=str(out))


def _plan_and_smoke(lab: Lab, result: DemoResult, display: Display, out: Path) -> None:
    stage = display.stage("plan, verify, smoke run")
    prepared = prepare_launch(lab, baseline=result.baseline_version,
                              overrides=[f"{FEATURE_KEY}={FEATURE_VALUE}"],
                              question=result.question_id, launching=True)
    result.diff = prepared.diff.render()
    display.log(f"config diff against {result.baseline_version} (verified: the feature is on, "
                "nothing else changed):\n" + result.diff)
    record = run_smoke(lab, _spec(result, prepared.config, out, "demo-feature"), echo=False)
    result.smoke_run = record.id
    display.done(stage, f"smoke run {record.id} {record.status}")


# -- 4. the ladders, the noise floor, the second round -----------------------------------
def _baseline_ladder(lab: Lab, result: DemoResult, display: Display, options: DemoOptions,
                     out: Path, layout: Layout) -> None:
    """The baseline's own ladder (kind ``baseline``): the points of its law."""
    version = result.baseline_version
    base = baselines.resolve(lab, version).config
    ordered = sorted(layout.baseline, key=lambda r: -r.d_model * r.d_model * r.n_layers * r.steps)
    plan = plan_ladder(base, list(COMMAND), rungs=[r.overrides() for r in ordered],
                       name="demo-baseline", project="bytelm", cwd=str(out), baseline=version,
                       verify=plan_verifier(lab, baseline=version))
    _launch(lab, plan, display, options, f"baseline ladder ({len(plan.runs)} runs)")
    result.plans["baseline"] = plan.id


def _noise_floor(lab: Lab, result: DemoResult, display: Display, options: DemoOptions,
                 out: Path, layout: Layout) -> None:
    """The baseline's noise floor: seeds of one rung, as `stepstone baseline noise` runs them."""
    version = result.baseline_version
    rung = layout.noise.name
    config, seeds = noise.seeds_to_run(lab, version, METRIC, rung, NOISE_SEEDS)
    plan = plan_ladder(config, list(COMMAND), rungs=[[]], seeds=seeds, name="demo-noise",
                       project="bytelm", cwd=str(out), baseline=version,
                       reference=baselines.effective_config(lab,
                                                            baselines.resolve(lab, version)))
    _launch(lab, plan, display, options, f"noise floor at {rung} ({len(seeds)} more seeds)")
    result.plans["noise"] = plan.id
    floor = noise.measure(lab, version, metric=METRIC, rung=rung)
    result.noise = floor.to_dict()
    display.log(f"noise floor of {version}: {noise.describe_floor(floor)}")


def _feature_ladder(lab: Lab, result: DemoResult, display: Display, options: DemoOptions,
                    out: Path, layout: Layout, *, seeds: Sequence[int] | None,
                    only: Sequence[str] | None) -> str:
    """The feature's ladder linked to the question (kind ``rung``); with ``seeds`` and
    ``only``, the second round: those seeds at those rungs (`ladder --seeds --only`)."""
    version = result.baseline_version
    # the config its runs really ran with (the task's defaults filled in), as `ladder` uses
    base = baselines.effective_config(lab, baselines.resolve(lab, version))
    feature = [f"{FEATURE_KEY}={FEATURE_VALUE}"]
    plan = plan_ladder(base, list(COMMAND), rungs=[feature + r.overrides() for r in layout.feature],
                       seeds=seeds, only=only, name="demo-feature" + ("-seeds" if seeds else ""),
                       project="bytelm", cwd=str(out), baseline=version,
                       question_id=result.question_id,
                       verify=plan_verifier(lab, baseline=version, feature_keys=(FEATURE_KEY,),
                                            question=result.question_id))
    title = (f"second round: seed(s) {', '.join(map(str, seeds))} at {', '.join(only or [])}"
             if seeds else f"feature ladder ({len(plan.runs)} runs)")
    _launch(lab, plan, display, options, title)
    result.plans["feature" + ("-seeds" if seeds else "")] = plan.id
    return plan.id


def _record_runs(lab: Lab, result: DemoResult) -> None:
    result.runs = []
    for run in lab.runs.list(baseline=result.baseline_version):
        if run.kind != "smoke":
            result.runs.append({"id": run.id, "name": run.name, "kind": run.kind,
                                "rung": run.config.get("rung"), "seed": run.seed,
                                "status": run.status, "n_params": run.summary.get("n_params"),
                                "flops": run.summary.get("flops"),
                                METRIC: run.summary.get(METRIC),
                                "duration_s": run.summary.get("duration_s")})


def _launch(lab: Lab, plan: Any, display: Display, options: DemoOptions, title: str) -> Any:
    """Launch ``plan`` on the local executor, showing its runs while they go."""
    stage = display.stage(title, total=len(plan.runs))
    pool = local_executor(workers=options.workers, gpus=[])

    def watched(jobs: list[RungJob], watch: Watch) -> None:
        stop = threading.Event()

        def poll() -> None:
            with open_lab(lab.target.location) as mine:
                while not stop.wait(0.5):
                    c = counts(plan_state(mine, plan.id, reap=False))
                    display.update(stage, c["done"] + c["failed"],
                                   f"done {c['done']} · running {c['running']} · failed "
                                   f"{c['failed']} · waiting {c['waiting']}")

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            pool(jobs, watch)
        finally:
            stop.set()
            thread.join()

    launched = launch_plan(lab, plan, watched, executor_name="local")
    c = counts(launched.states)
    display.done(stage, f"{c['done']} finished, {c['failed']} failed")
    bad = [s for s in launched.states if s.status != "finished"]
    if bad:
        raise UsageError(f"{title} did not finish: " + "; ".join(
            f"run {s.run_id} {s.status} ({s.reason})" for s in bad))
    return launched.states


# -- 5. the evidence ----------------------------------------------------------------------
def _evidence(lab: Lab, result: DemoResult, display: Display, options: DemoOptions) -> None:
    from stepstone.analysis import compare_buckets, stratify
    from stepstone.analysis.stratify import regression_text

    stage = display.stage("law, gain, strata")
    law = evidence.baseline_law(lab, result.baseline_version, metric=METRIC,
                                n_bootstrap=options.bootstrap)
    if law.fit is None:
        raise UsageError(f"the baseline's law could not be fitted: {law.reason}")
    result.fit_id = lab.save_fit(label=f"{result.baseline_version} law", form="compute",
                                 source=f"baseline:{result.baseline_version}",
                                 run_ids=list(law.run_ids), flops_method=law.fit.flops_method,
                                 result={**law.fit.to_dict(), "metric": METRIC})
    result.law = {"formula": law.fit.formula, "n_runs": len(law.run_ids),
                  "params": {p: law.fit.param(p).to_dict() for p in ("E", "A", "alpha")}}
    gain = evidence.question_gain(lab, result.question_id, law)
    if gain.result is None:
        raise UsageError(f"the gain could not be computed: {gain.reason}")
    result.gains = [r.to_dict() for r in gain.result.rungs]
    result.trend = gain.result.trend.to_dict()
    # the feature's top rung against the baseline's same rung, seed 0, bucket by bucket
    feature = [r for r in lab.runs.list(question_id=result.question_id) if r.kind == "rung"]
    top = max(feature, key=lambda r: (float(r.summary.get("flops") or 0), -(r.seed or 0)))
    base = next(r for r in lab.runs.list(baseline=result.baseline_version, kind="baseline")
                if r.config.get("rung") == top.config.get("rung"))
    base_records, feat_records = aio.eval_records(lab, base.id), aio.eval_records(lab, top.id)
    strata = stratify(feat_records, by="position_bucket")
    compared = compare_buckets(base_records, feat_records, by="position_bucket")
    weakest = strata.weakest
    result.stratified = {
        "rung": top.config.get("rung"), "baseline_run": base.id, "feature_run": top.id,
        "weakest": weakest.to_dict() if weakest else None,
        "rows": [r.to_dict() for r in compared.rows], "overall": compared.overall.to_dict(),
        "largest_regression": (compared.largest_regression.to_dict()
                               if compared.largest_regression else None),
        "regression": regression_text(compared, "the feature run", "the baseline run")}
    display.done(stage, f"trend {gain.result.trend.verdict}")


# -- 6. the first verdict, what would settle it, and the second round ---------------------
def _first_verdict(lab: Lab, result: DemoResult, display: Display) -> Proposal:
    stage = display.stage("first verdict and power analysis")
    proposal = decide.gather(lab, result.question_id)
    result.first_verdict = proposal.to_dict()
    for reason in proposal.verdict.reasons:
        display.log(f"first verdict: {reason}")
    settle = proposal.settle
    for line in settle.lines if settle is not None else ():
        display.log(f"what would settle it: {line}")
    display.done(stage, f"proposed {proposal.answer}"
                 + (f"; {settle.seeds} seeds at {', '.join(settle.rungs)} would settle it"
                    if settle is not None and settle.seeds else ""))
    return proposal


def _second_round(lab: Lab, result: DemoResult, display: Display, options: DemoOptions,
                  out: Path, layout: Layout, first: Proposal) -> None:
    """Fresh seeds where the first verdict was inconclusive, as many as the power analysis
    asks (at most :data:`MAX_SEEDS` in all), at the rung the rule reads (the top one) when
    the power analysis names it: its other rungs are evidence, not the answer."""
    settle = first.settle
    top = layout.feature[-1].name
    if (first.answer != "inconclusive" or settle is None or not settle.seeds
            or top not in settle.rungs):
        why = (f"not needed: the first verdict is {first.answer}"
               if first.answer != "inconclusive" else
               f"no number of seeds settles it at {top} (see the power analysis)")
        result.second_round = {"ran": False, "why": why}
        display.done(display.stage("second round of seeds"), why)
        return
    total = min(int(settle.seeds), MAX_SEEDS)
    seeds = list(range(1, total))  # seed 0 ran in the first round
    only = [top]
    plan_id = _feature_ladder(lab, result, display, options, out, layout, seeds=seeds, only=only)
    result.second_round = {
        "ran": True, "rungs": only, "seeds": seeds, "asked": int(settle.seeds),
        "capped": total < int(settle.seeds), "plan": plan_id, "command": settle.command}


# -- 7. the decision, the promotion and the notebook ---------------------------------------
def _decide(lab: Lab, result: DemoResult, display: Display) -> None:
    stage = display.stage("decision")
    proposal = decide.gather(lab, result.question_id)
    conclusion = (f"Recorded by `stepstone demo`, which takes the rule's proposal "
                  f"({proposal.answer}) as its answer: " + "; ".join(proposal.verdict.reasons)
                  + ". Read the report before acting on it.")
    proposal, page = decide.decide(lab, result.question_id, conclusion=conclusion)
    result.decision = {**proposal.to_dict(), "decision_page": page.number if page else None}
    display.done(stage, f"answered {proposal.answer}")


def _promote(lab: Lab, result: DemoResult, display: Display) -> None:
    """On yes, the feature into a new dated version of the tier (`baseline promote`)."""
    stage = display.stage("promotion")
    if result.decision.get("proposed") == "yes":
        row = promote(lab, TIER, result.question_id)
        result.promotion = {"version": row.version, "parent": row.parent,
                            "config_change": {FEATURE_KEY: FEATURE_VALUE}}
        display.done(stage, f"{row.version} = {row.parent} + {FEATURE_KEY}="
                            f"{FEATURE_VALUE}")
    else:
        display.done(stage, f"not promoted: the answer is {result.decision.get('proposed')}")
    result.history = [{"version": v.baseline.version, "parent": v.baseline.parent,
                       "features": [f.question_id for f in v.features],
                       "check": v.check.status} for v in baselines.history(lab, TIER)]
    result.pages = [{"number": p.number, "kind": p.kind, "title": p.title}
                    for p in lab.notebook.pages()]


# -- 8. the report -----------------------------------------------------------------------
def _report(lab: Lab, result: DemoResult, display: Display, options: DemoOptions) -> None:
    stage = display.stage("report")
    report = build_report(lab, result.question_id, n_bootstrap=options.bootstrap)
    folder = Path(result.lab) / "reports" / result.question_id
    paths = write_report(report, folder)
    result.report = {**paths.to_dict(), "caveats": list(report.caveats)}
    display.done(stage, paths.html.name)


# -- the summary printed at the end --------------------------------------------------------
def _num(value: Any, spec: str = ".3g") -> str:
    return "∞" if value is None else format(float(value), spec)


def summary_text(result: DemoResult) -> str:
    """The end-of-demo summary: the first verdict and what would settle it, the second round,
    the decision, the promotion and the tier's history, the gains, strata, pages, paths."""
    first, d = result.first_verdict, result.decision
    lines = [f"Question {result.question_id} against {result.baseline_version}: rule `{RULE}`"]
    if result.noise:
        n = result.noise
        lines.append(f"Noise floor of {METRIC}: sd {n['sd']:.3g} over {n['n']} seeds at "
                     f"{n['rung']}")
    lines.append(f"First verdict: {str(first.get('proposed', '?')).upper()}")
    lines += [f"  - {r}" for r in first.get("reasons", [])]
    settle = first.get("settle") or {}
    lines += [f"  - what would settle it: {w}" for w in settle.get("why", [])]
    second = result.second_round
    if second.get("ran"):
        lines.append(f"Second round: seeds {', '.join(map(str, second['seeds']))} at "
                     f"{', '.join(second['rungs'])}, the rung the rule reads "
                     f"({len(second['seeds']) + 1} seeds there in all; at most {MAX_SEEDS})")
    elif second:
        lines.append(f"Second round: {second['why']}")
    lines.append(f"Decision: {str(d.get('proposed', '?')).upper()}")
    lines += [f"  - {r}" for r in d.get("reasons", [])]
    lines += [f"  - flag: {f}" for f in d.get("flags", [])]
    if result.promotion:
        lines.append(f"Promoted: {result.promotion['version']} = {result.promotion['parent']} + "
                     f"{FEATURE_KEY}={FEATURE_VALUE}")
    lines.append("Baseline history: " + " -> ".join(
        v["version"] + (f" (+{', '.join(v['features'])})" if v["features"] else "")
        for v in result.history))
    lines += ["", f"Baseline law ({result.law.get('n_runs')} runs): {result.law.get('formula')}",
              "Gain of the 4-shot loss per rung (95% interval: the baseline law's fit and "
              "the seeds' noise):", "  rung   compute     eval/loss  gain    interval"]
    for g in result.gains:
        lines.append(f"  {g['label']:<6} {_num(g['compute'], '.2e'):<11} "
                     f"{_num(g['loss'], '.4f'):<10} {_num(g['gain'], '.3f'):<7} "
                     f"[{_num(g['ci_low'], '.3f')}, {_num(g['ci_high'], '.3f')}]")
    t = result.trend
    if int(t.get("n_rungs") or 0) < 2:
        lines.append(f"Trend: {t.get('verdict')} (the feature ran at one rung: no slope)")
    else:
        lines.append(f"Trend: {t.get('verdict')} (ln gain per decade "
                     f"{_num(t.get('slope_per_decade'))}, interval [{_num(t.get('ci_low'))}, "
                     f"{_num(t.get('ci_high'))}])")
    s = result.stratified
    if s.get("weakest"):
        w = s["weakest"]
        lines.append(f"Stratified ({s['rung']}, by position in the window): weakest bucket "
                     f"{w['bucket']} (mean log-likelihood {w['mean']:.3f} nats/byte)")
    if s.get("overall"):
        o = s["overall"]
        lines.append(f"  against the baseline at {s['rung']}: overall {o['diff']:+.3f} nats/byte "
                     f"({o['verdict']})")
    if s.get("regression"):
        lines.append(f"  regression: {s['regression']}")
    kinds: dict[str, int] = {}
    for page in result.pages:
        kinds[page["kind"]] = kinds.get(page["kind"], 0) + 1
    lines += ["", f"Notebook: {len(result.pages)} pages ("
              + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")",
              f"Report: {result.report.get('markdown')}", f"        {result.report.get('html')}",
              f"Wall time: {result.wall_s:.0f} s", f"Look at it all: {result.ui_command}"]
    return "\n".join(lines)
