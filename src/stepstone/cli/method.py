"""``stepstone idea | question | baseline | plan | decide | note | plan-day | notebook``:
the research method from the command line (every rule lives in stepstone.method)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from stepstone.cli.common import echo, json_option, lab_option, print_json, print_table
from stepstone.display import changes, when
from stepstone.errors import UsageError
from stepstone.method import baselines as baseline_rules
from stepstone.method import confirm as confirm_rules
from stepstone.method import decide as decide_rules
from stepstone.method import holdout as holdout_rules
from stepstone.method import ideas as idea_rules
from stepstone.method import memory
from stepstone.method import notebook as notebook_rules
from stepstone.method import questions as question_rules
from stepstone.method.preflight import prepare_launch, problems_text, split_keys
from stepstone.method.promote import promote
from stepstone.store.baselines import BaselineVersion
from stepstone.store.lab import Lab, open_lab, open_lab_to_read


# ----------------------------------------------------------------------------- ideas
@click.group("idea")
def idea_group() -> None:
    """The parking lot of ideas, ranked by expected signal per cost.

    \b
    Example:
      stepstone idea add "QK-norm" --source arxiv:2302.05442 --cost 3h --signal high
      stepstone idea list
    """


@idea_group.command("add")
@click.argument("title")
@click.option("--source", help="Where it came from: a paper, a link, 'bottleneck in X'.")
@click.option("--cost", help="Estimated cost to test it (90m, 3h, 2d).")
@click.option("--signal", default="medium", show_default=True,
              type=click.Choice(list(idea_rules.SIGNALS)), help="Expected signal.")
@lab_option
@json_option
def idea_add(title: str, source: str | None, cost: str | None, signal: str, lab: str | None,
             as_json: bool) -> None:
    """Park a new idea.

    \b
    Example:
      stepstone idea add "QK-norm" --source arxiv:2302.05442 --cost 3h --signal high
    """
    with open_lab(lab) as opened:
        idea = idea_rules.add(opened, title, source=source, cost=cost, signal=signal)
    if as_json:
        print_json(idea)
    else:
        echo(f"idea {idea.idea.id} parked: {idea.idea.title}")
        _print_similar(idea.similar or ())


def _print_similar(similar: Sequence[memory.Recalled]) -> None:
    if similar:
        echo("tried before, or close to it:")
    for entry in similar:
        echo(f"  {memory.line(entry)}")


@idea_group.command("list")
@click.option("--status", type=click.Choice(idea_rules.STATUSES), help="Only this status.")
@click.option("--all", "show_all", is_flag=True, help="Include adopted and dropped ideas.")
@click.option("--dead", is_flag=True,
              help="The dead ends: dropped ideas and questions answered no, with the reasons.")
@lab_option
@json_option
def idea_list(status: str | None, show_all: bool, dead: bool, lab: str | None,
              as_json: bool) -> None:
    """Ideas ranked by expected signal per hour of cost.

    \b
    Example:
      stepstone idea list
      stepstone idea list --all --json
      stepstone idea list --dead
    """
    if dead:
        with open_lab(lab) as opened:
            ends = memory.dead(opened, status=status, include_closed=show_all)
        if as_json:
            print_json(ends)
        else:
            echo(f"{len(ends)} dead ends")
            for entry in ends:
                echo(f"  {memory.line(entry)}")
        return
    with open_lab(lab) as opened:
        rows = idea_rules.ranked(opened, status, include_closed=show_all)
    if as_json:
        print_json(rows)
        return
    print_table([r.to_dict() for r in rows], ("id", "title", "status", "signal", "cost_hours",
                                              "score", "source", "reason"),
                title=f"{len(rows)} ideas")


@idea_group.command("show")
@click.argument("idea")
@lab_option
@json_option
def idea_show(idea: str, lab: str | None, as_json: bool) -> None:
    """One idea and every move it made, each with its reason and time.

    \b
    Example:
      stepstone idea show i1
      stepstone idea show i1 --json
    """
    with open_lab(lab) as opened:
        detail = idea_rules.describe(opened, idea)
    if as_json:
        print_json(detail)
        return
    row = detail.idea
    cost = f"{row.cost_hours:.3g}h" if row.cost_hours is not None else "unknown cost"
    echo(f"{row.id}: {row.title}  ({row.status}, {row.signal} signal, {cost}"
               + (f", from {row.source}" if row.source else "") + ")")
    for event in detail.events:
        stamp = when(event.at)
        move = (f"{event.from_status} → " if event.from_status else "") + event.to_status
        echo(f"  {stamp}  {move}: {event.reason}")


def _idea_move(to: str) -> click.Command:
    @click.command(to if to != "dropped" else "drop")
    @click.argument("idea")
    @click.option("--reason", required=True, help="Why (kept for good).")
    @lab_option
    @json_option
    def command(idea: str, reason: str, lab: str | None, as_json: bool) -> None:
        with open_lab(lab) as opened:
            row = idea_rules.move(opened, idea, to, reason)
        if as_json:
            print_json(row)
        else:
            echo(f"idea {row.idea.id} is {row.idea.status}: {reason}")

    verb = {"parked": "park", "picked": "pick", "dropped": "drop"}[to]
    command.name = verb
    command.help = (f"Move an idea to {to}, with the reason.\n\n\b\nExample:\n"
                    f"  stepstone idea {verb} i3 --reason \"...\"")
    return command


for _to in ("parked", "picked", "dropped"):
    idea_group.add_command(_idea_move(_to))


# ----------------------------------------------------------------------------- questions
@click.group("question")
def question_group() -> None:
    """Research questions: metric, decision rule, time box, baseline.

    \b
    Example:
      stepstone question new "Does QK-norm help?" --metric val_loss \\
        --rule "val_loss <= baseline - 0.01" --timebox 3h --baseline small
      stepstone question list
    """


@question_group.command("new")
@click.argument("text")
@click.option("--idea", help="The idea it tests (moves to picked).")
@click.option("--metric", "metrics", multiple=True, help="A metric that answers it.")
@click.option("--rule", required=True, help="The decision rule, e.g. 'gain >= 1.05 at every rung'.")
@click.option("--timebox", help="How long it may take (3h, 2d).")
@click.option("--baseline", help="The baseline tier (or version) it is compared against.")
@click.option("--confirm", is_flag=True,
              help="A yes must hold on fresh seeds (a confirming question) before "
                   "`baseline promote` accepts it.")
@click.option("--budget", help="The compute its runs may spend in all, in FLOPs (1e15); "
                               "launches beyond it are refused.")
@click.option("--holdout-looks", type=int, metavar="N",
              help="Its runs' held-out results (heldout/*) may be read N times "
                   "(`question look`).")
@lab_option
@json_option
def question_new(text: str, idea: str | None, metrics: tuple[str, ...], rule: str,
                 timebox: str | None, baseline: str | None, confirm: bool, budget: str | None,
                 holdout_looks: int | None, lab: str | None, as_json: bool) -> None:
    """Ask a question before any run; the rule must parse.

    \b
    Example:
      stepstone question new "Does QK-norm help?" --idea i1 --metric val_loss \\
        --rule "gain >= 1.05 at every rung" --timebox 3h --baseline small --confirm
    """
    with open_lab(lab) as opened:
        q = question_rules.create(opened, text, rule=rule, metrics=split_keys(metrics), idea=idea,
                                  timebox=timebox, baseline=baseline, confirm=confirm,
                                  budget=budget, holdout_looks=holdout_looks)
    if as_json:
        print_json(q)
    else:
        echo(f"question {q.question.id} open: {q.question.text}  (rule: {q.question.rule})")
        _print_similar(q.similar)


@question_group.command("list")
@click.option("--status", type=click.Choice(question_rules.STATUSES), help="Only this status.")
@lab_option
@json_option
def question_list(status: str | None, lab: str | None, as_json: bool) -> None:
    """Every question with its status and answer.

    \b
    Example:
      stepstone question list --status running
    """
    with open_lab(lab) as opened:
        rows = opened.questions.list(status)
    if as_json:
        print_json(rows)
        return
    print_table([r.to_dict() for r in rows], ("id", "text", "status", "answer", "rule",
                                              "baseline", "timebox_hours"),
                title=f"{len(rows)} questions")


@question_group.command("show")
@click.argument("question")
@lab_option
@json_option
def question_show(question: str, lab: str | None, as_json: bool) -> None:
    """One question: rule, status, runs, recorded feature change and pages.

    \b
    Example:
      stepstone question show q1
    """
    with open_lab(lab) as opened:
        detail = question_rules.describe(opened, question)
    if as_json:
        print_json(detail)
        return
    q = detail.question.to_dict()
    echo(f"{q['id']}: {q['text']}")
    for key in ("status", "answer", "rule", "metrics", "baseline", "timebox_hours",
                "feature_delta", "conclusion", "reason", "confirm", "confirms"):
        if q[key] not in (None, "", [], {}):
            echo(f"  {key}: {q[key]}")
    for run in detail.runs:
        echo(f"  run {run.id} {run.name} {run.kind} {run.status}")
    for flag in detail.evaluator_differs:
        echo(f"  ! run {flag['run_id']}: {flag['reason']}: left out of decide")
    if detail.pages:
        echo(f"  notebook pages: {', '.join(map(str, detail.pages))}")


@question_group.command("look")
@click.argument("question")
@lab_option
@json_option
def question_look(question: str, lab: str | None, as_json: bool) -> None:
    """Spend one of the question's held-out looks: its finished runs' heldout/* results,
    recorded as a notebook page (refused once the budget is spent).

    \b
    Example:
      stepstone question new "Does X generalize?" --rule "val_loss <= 1" --holdout-looks 2
      stepstone question look q1
    """
    with open_lab(lab) as opened:
        seen = holdout_rules.look(opened, question)
    if as_json:
        print_json(seen)
        return
    echo(f"held-out look {seen.look} of {seen.budget} for {question} "
         f"({seen.left} left; page {seen.page}):")
    for run_id, values in seen.results.items():
        echo(f"  {run_id}: " + ", ".join(f"{k} = {v:.6g}" for k, v in sorted(values.items())))
    if not seen.results:
        echo("  no finished run has held-out results")


@question_group.command("abandon")
@click.argument("question")
@click.option("--reason", required=True, help="Why it stops here.")
@lab_option
@json_option
def question_abandon(question: str, reason: str, lab: str | None, as_json: bool) -> None:
    """Abandon an open question with a reason.

    \b
    Example:
      stepstone question abandon q2 --reason "superseded by q3"
    """
    with open_lab(lab) as opened:
        q = question_rules.abandon(opened, question, reason)
    if as_json:
        print_json(q)
    else:
        echo(f"question {q.id} abandoned: {reason}")


# ----------------------------------------------------------------------------- baselines
@click.group("baseline")
def baseline_group() -> None:
    """Dated, frozen baselines by tier; promotions of proven features.

    \b
    Example:
      stepstone baseline create small --config small.yaml
      stepstone baseline history small
    """


@baseline_group.command("create")
@click.argument("tier")
@click.option("--config", "config_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The config file.")
@click.option("--metric", help="The reference metric later versions must not regress on.")
@lab_option
@json_option
def baseline_create(tier: str, config_file: Path, metric: str | None, lab: str | None,
                    as_json: bool) -> None:
    """Freeze a config as today's version of TIER (small@YYYY-MM-DD).

    \b
    Example:
      stepstone baseline create small --config small.yaml --metric val_loss
    """
    with open_lab(lab) as opened:
        row = baseline_rules.create(opened, tier, config_file, reference_metric=metric)
    if as_json:
        print_json(row)
    else:
        echo(f"baseline {row.version} created (frozen)")


@baseline_group.command("list")
@lab_option
@json_option
def baseline_list(lab: str | None, as_json: bool) -> None:
    """Every baseline version, by tier.

    \b
    Example:
      stepstone baseline list
    """
    with open_lab(lab) as opened:
        versions = opened.baselines.list()
        current = {t: opened.baselines.current(t) for t in {r.tier for r in versions}}
    rows = [{**r.to_dict(), "current": current[r.tier] == r} for r in versions]
    if as_json:
        print_json(rows)
        return
    print_table(rows, ("version", "tier", "parent", "reference_metric", "current"),
                title=f"{len(rows)} baseline versions")


def _print_version(row: baseline_rules.DescribedBaseline) -> None:
    echo(f"{row.baseline.version}  (parent: {row.baseline.parent or 'none'})  {row.check.text}")
    for feature in row.features:
        echo(f"  + {changes(feature.delta)}  proved by {feature.question_id}: {feature.question}")
    for key, stats in row.reference_metrics.items():
        spread = f" ± {stats.sd:.2g}" if stats.n > 1 else ""  # one run has no spread
        echo(f"  {key} = {stats.mean:.6g}{spread} (n={stats.n})")
    for floor in row.noise:
        where = f" at rung {floor.rung}" if floor.rung else ""
        echo(f"  noise floor of {floor.metric}: sd {floor.sd:.3g} over {floor.n} "
                   f"seeds{where}, measured {when(floor.measured_at)}")


@baseline_group.command("show")
@click.argument("baseline")
@lab_option
@json_option
def baseline_show(baseline: str, lab: str | None, as_json: bool) -> None:
    """One version (a tier means its newest): config, features, metrics, regression check.

    \b
    Example:
      stepstone baseline show small
      stepstone baseline show small@2026-11-21 --json
    """
    with open_lab(lab) as opened:
        row = baseline_rules.describe(opened, baseline_rules.resolve(opened, baseline))
    if as_json:
        print_json(row)
        return
    _print_version(row)
    from stepstone.configs import flatten

    for key, value in flatten(row.baseline.config, strict=False).items():
        echo(f"  config {key} = {value}")


@baseline_group.command("history")
@click.argument("tier")
@lab_option
@json_option
def baseline_history(tier: str, lab: str | None, as_json: bool) -> None:
    """The lineage of a tier: versions, parents, features merged and the proving questions.

    \b
    Example:
      stepstone baseline history small
    """
    with open_lab(lab) as opened:
        rows = baseline_rules.history(opened, tier)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        _print_version(row)


@baseline_group.command("noise", context_settings={"ignore_unknown_options": True})
@click.argument("tier")
@click.option("--seeds", type=int, default=None,
              help="Seeds to measure on (default 3 with a COMMAND; without one, every "
                   "finished seed at the rung).")
@click.option("--rung", default=None,
              help="The rung of the baseline's ladder to repeat (its `rung`); default: the "
                   "version's own config with a COMMAND, else the rung with the most seeds.")
@click.option("--metric", default=None, help="The metric (default: the reference metric).")
@click.option("--workers", type=int, default=1, show_default=True, help="Runs at once.")
@lab_option
@json_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def baseline_noise(tier: str, seeds: int | None, rung: str | None, metric: str | None,
                   workers: int, lab: str | None, as_json: bool,
                   command: tuple[str, ...]) -> None:
    """Measure a baseline's noise floor: the seed-to-seed SD of its reference metric.

    With a COMMAND (after --), the version's config at RUNG runs on the seeds it lacks
    (kind baseline, seeds 0, 1, ... not yet finished there) until it has --seeds of them;
    without one, the seeds it already has are measured. The floor is stored with the
    version and shown by `baseline show`.

    \b
    Example:
      stepstone baseline noise small --seeds 3 --rung r3 -- python train.py
      stepstone baseline noise small --rung r3
    """
    from stepstone.method import noise

    with open_lab(lab) as opened:
        row = baseline_rules.resolve(opened, tier)
        chosen_metric = metric or row.reference_metric
        if not chosen_metric:
            raise UsageError(f"{row.version} has no reference metric: give --metric NAME")
        launched: list[int] = []
        if command:
            config, launched = noise.seeds_to_run(opened, row.version, chosen_metric,
                                                  rung, seeds or 3)
            if launched:
                _launch_seeds(opened, row, config, list(command), launched, workers, as_json)
        elif seeds is not None:
            by_rung = noise.rung_seeds(opened, row.version, chosen_metric)
            have = len(by_rung.get(noise.choose_rung(by_rung, rung) or "", {}))
            if have < seeds:
                raise UsageError(f"{row.version} has {have} finished seed(s) there, not "
                                 f"{seeds}: give the command that trains it after -- to run "
                                 "the rest")
        floor = noise.measure(opened, row.version, metric=chosen_metric, rung=rung)
    if as_json:
        print_json({"version": row.version, **floor.to_dict(), "launched_seeds": launched})
    else:
        echo(f"noise floor of {row.version}: {noise.describe_floor(floor, launched)}")


def _launch_seeds(lab: Lab, row: BaselineVersion, config: dict[str, Any], command: list[str],
                  seeds: list[int], workers: int, quiet: bool) -> None:
    """Run the baseline's ``config`` on ``seeds`` as its own runs (a ladder of one rung)."""
    from stepstone.launch.executors import local_executor
    from stepstone.launch.plan import plan_ladder
    from stepstone.launch.runner import launch_plan

    plan = plan_ladder(config, command, rungs=[[]], seeds=seeds,
                       name=f"noise-{row.version}", project=Path.cwd().name,
                       cwd=str(Path.cwd()), baseline=row.version,
                       reference=baseline_rules.effective_config(lab, row))
    result = launch_plan(lab, plan, local_executor(workers=workers),
                         executor_name="local", progress=not quiet)
    failed = [s for s in result.states if s.status != "finished"]
    if failed:
        raise UsageError("the noise seeds did not all finish: " + "; ".join(
            f"run {s.run_id} {s.status}" + (f" ({s.reason})" if s.reason else "")
            for s in failed) + f"; run the same command again to retry them (plan {plan.id})")


@baseline_group.command("promote")
@click.argument("tier")
@click.option("--from", "question", required=True, help="The question answered yes.")
@lab_option
@json_option
def baseline_promote(tier: str, question: str, lab: str | None, as_json: bool) -> None:
    """A new dated version of TIER: its current config plus the proven feature.

    \b
    Example:
      stepstone baseline promote small --from q3
    """
    with open_lab(lab) as opened:
        row = promote(opened, tier, question)
    if as_json:
        print_json(row)
    else:
        echo(f"baseline {row.version} created from {row.parent} + {question}; "
                   "run it (kind baseline) to check it does not regress")


# ----------------------------------------------------------------------------- plan, decide
@click.command("plan")
@click.option("--baseline", required=True, help="Baseline tier or version.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a key.")
@click.option("--feature", "features", multiple=True, help="Feature keys that must change.")
@click.option("--allow", "allowed", multiple=True, help="Other keys that may change.")
@click.option("--question", help="The question these runs answer (records the feature change).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Seeds per rung the ladder will run (for the minimum detectable gain).")
@lab_option
@json_option
def plan_cmd(baseline: str, overrides: tuple[str, ...], features: tuple[str, ...],
             allowed: tuple[str, ...], question: str | None, seeds: int, lab: str | None,
             as_json: bool) -> None:
    """Resolve baseline + overrides, show the diff, and verify it (refused on a mismatch).

    With --question and a gain rule, also the minimum detectable gain of a ladder at the
    baseline's rungs with --seeds seeds each (80% power, from the baseline law's uncertainty
    and its noise floor).

    \b
    Example:
      stepstone plan --baseline small --set model.qk_norm=true --feature model.qk_norm --question q1
    """
    with open_lab(lab) as opened:
        prepared = prepare_launch(opened, baseline=baseline, overrides=overrides,
                                  feature_keys=split_keys(features), allowed=split_keys(allowed),
                                  question=question, strict=False)
        pinned = baseline_rules.pins_defaults(
            opened, baseline_rules.resolve(opened, prepared.baseline_version))
        detectable = None
        if question is not None and importlib.util.find_spec("numpy") is not None:
            from stepstone.method.settle import detectable_gains

            detectable = detectable_gains(opened, opened.questions.get(question),
                                          prepared.baseline_version, seeds)
    if as_json:
        print_json({**prepared.to_dict(),
                    "detectable": detectable.to_dict() if detectable else None})
    else:
        echo(f"against {prepared.baseline_version}:\n{prepared.diff.render()}")
        if detectable is not None:
            _echo_detectable(detectable)
    if not prepared.ok:
        from stepstone.errors import ConfigError

        raise ConfigError(problems_text(prepared))
    if not as_json:
        echo("verified: the feature is on and nothing else changed"
             + ("" if pinned else " (in the baseline's own keys: the task's defaults "
                "join them when the baseline's first run records them)"))


def _echo_detectable(found: Any) -> None:
    echo(f"minimum detectable gain ({found.power:.0%} power, gain >= "
         f"{found.threshold:g}, {found.seeds} seed(s) per rung):")
    for label, compute, gain, note in found.rungs:
        shown = f"{gain:.3g}" if gain is not None else "–"
        echo(f"  rung {label} (C {compute:.3g}): {shown}" + (f" ({note})" if note else ""))
    if found.note:
        echo(f"  {found.note}")


@click.command("decide")
@click.argument("question")
@click.option("--conclusion", help="Your conclusion; without it only the proposal is shown.")
@click.option("--answer", type=click.Choice(decide_rules.ANSWERS),
              help="Override the proposed answer (recorded as an override).")
@lab_option
@json_option
def decide_cmd(question: str, conclusion: str | None, answer: str | None, lab: str | None,
               as_json: bool) -> None:
    """Gather the evidence, evaluate the question's rule, propose an answer; confirm it.

    \b
    Example:
      stepstone decide q1
      stepstone decide q1 --conclusion "QK-norm helps at every rung"
    """
    with open_lab(lab) as opened:
        proposal, page = decide_rules.decide(opened, question, conclusion=conclusion,
                                             answer=answer)
        waiting = confirm_rules.waiting(opened, question) if page is not None else None
    if as_json:
        print_json({**proposal.to_dict(), "decision_page": page,
                    "confirmation": waiting[0] if waiting else None})
        return
    echo(f"{question}: rule `{proposal.rule}` → proposed {proposal.answer}")
    for reason in proposal.verdict.reasons:
        echo(f"  {reason}")
    for flag in proposal.flags:
        echo(f"  ! {flag}")
    if proposal.settle is not None:
        echo("what would settle it:")
        for line in proposal.settle.lines:
            echo(f"  {line}")
        if proposal.settle.command:
            echo(f"  {proposal.settle.seeds} seeds per rung at "
                 f"{', '.join(proposal.settle.rungs)}; run\n    {proposal.settle.command}")
    if page is None:
        echo(f"confirm with `stepstone decide {question} --conclusion \"...\"`")
    else:
        echo(f"recorded: {page.title} (page {page.number})")
    if waiting:
        confirming, then = waiting
        echo(f"{question} asks that its yes hold on fresh seeds before promotion: "
             f"{confirming} asks it; run\n  {then}\nthen `stepstone decide "
             f"{confirming} --conclusion \"...\"`")


# ----------------------------------------------------------------------------- notebook
@click.command("note")
@click.argument("text")
@click.option("--question", help="The question it belongs to.")
@click.option("--kind", default="note", show_default=True,
              type=click.Choice(notebook_rules.WRITABLE))
@click.option("--corrects", type=int, help="The page it corrects (that page stays as it is).")
@click.option("--review", type=int, help="The day's plan page it reviews.")
@lab_option
@json_option
def note_cmd(text: str, question: str | None, kind: str, corrects: int | None,
             review: int | None, lab: str | None, as_json: bool) -> None:
    """Append a page to the notebook.

    \b
    Example:
      stepstone note "lr 3e-4 diverges past 1B params" --question q1
      stepstone note "page 4 had the wrong seed count" --corrects 4
    """
    with open_lab(lab) as opened:
        page = notebook_rules.note(opened, text, kind=kind, question=question,
                                   corrects=corrects, review=review)
    if as_json:
        print_json(page)
    else:
        echo(f"page {page.number} ({page.kind}): {page.title}")


@click.command("plan-day")
@click.argument("text")
@lab_option
@json_option
def plan_day_cmd(text: str, lab: str | None, as_json: bool) -> None:
    """Write today's plan; tomorrow asks what was done and why not.

    \b
    Example:
      stepstone plan-day "run q3's ladder; decide q2; read the DeltaNet paper"
    """
    with open_lab(lab) as opened:
        page = notebook_rules.plan_day(opened, text)
    if as_json:
        print_json(page)
    else:
        echo(f"page {page.number}: {page.title}")


@click.group("notebook", invoke_without_command=True)
@click.option("--question", help="Only pages of this question.")
@lab_option
@json_option
@click.pass_context
def notebook_group(ctx: click.Context, question: str | None, lab: str | None,
                   as_json: bool) -> None:
    """Read the notebook (append-only, numbered pages).

    \b
    Example:
      stepstone notebook --question q1
      stepstone notebook export notes/
    """
    if ctx.invoked_subcommand is not None:
        return
    with open_lab_to_read(lab) as opened:
        pages = notebook_rules.pages(opened, question)
    if as_json:
        print_json(pages)
        return
    if pages:
        echo(notebook_rules.text(pages))


@notebook_group.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@lab_option
@json_option
def notebook_export(folder: Path, lab: str | None, as_json: bool) -> None:
    """Write the notebook as Markdown (one file per question, [[wikilinks]], for Obsidian).

    \b
    Example:
      stepstone notebook export ~/vault/stepstone
    """
    with open_lab(lab) as opened:
        written = notebook_rules.export(opened, folder)
    if as_json:
        print_json([str(p) for p in written])
    else:
        echo(f"wrote {len(written)} files to {folder}")
