"""Markdown and self-contained HTML from a :class:`~stepstone.report.build.Report`.

Both come from one document (sections of paragraphs, tables, lists, code and figures), so
they say the same thing. Every piece of text a user wrote (question, names, notes,
conclusions, commands) is plain text here: the HTML escapes it, the Markdown neutralises
``<``/``>`` so that no renderer runs it. The HTML embeds its figures as base64 PNG and its
CSS inline and names no external URL.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stepstone.display import fmt, interval, span
from stepstone.report.build import Report
from stepstone.report.figures import FigureOut, make_figures
from stepstone.report.model import GainRow

SECTIONS = ("Question", "Setup", "Results", "Scaling law", "Efficiency gain",
            "Stratified evaluation", "Standards", "Decision", "Conclusion", "Caveats", "Reproduce")
"""The report's section headings, in order."""


# -- the document ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Para:
    text: str
    emphasis: bool = False


@dataclass(frozen=True)
class Fields:
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Fig:
    name: str
    fallback: str = ""  # said when the figure was not made at all


@dataclass(frozen=True)
class Heading:
    text: str


Block = Para | Fields | Bullets | Table | Code | Fig | Heading


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


def title_of(report: Report) -> str:
    return f"Report on {report.question.id}: {report.question.text}"


def document(report: Report) -> tuple[Section, ...]:
    """The report as sections (the same for Markdown and HTML)."""
    return (_question(report), _setup(report), _results(report), _fit(report), _gain(report),
            _stratified(report), _standards(report), _decision(report), _conclusion(report),
            _caveats(report), _reproduce(report))


def _question(r: Report) -> Section:
    q = r.question
    items = [("Question", q.text), ("Rule", q.rule), ("Metrics", ", ".join(q.metrics) or "–"),
             ("Status", q.status + (f" ({q.answer})" if q.answer else ""))]
    if q.idea:
        items.append(("Idea", q.idea))
    if q.timebox_hours is not None:
        box = span(q.timebox_hours) + (f", until {q.deadline}" if q.deadline else "")
        items.append(("Time box", box + (" (ran out)" if q.overdue else "")))
    if q.reason:
        items.append(("Abandoned because", q.reason))
    blocks: list[Block] = [Fields(tuple(items))]
    if r.notes:
        blocks.append(Heading("Notes"))
        blocks.append(Bullets(tuple(f"page {p.number} ({p.kind}) {p.title}: {p.body}"
                                    for p in r.notes)))
    return Section("Question", tuple(blocks))


def _setup(r: Report) -> Section:
    blocks: list[Block] = []
    b = r.baseline
    if b is None:
        blocks.append(Para("No baseline version: the question names none and no run has one."))
    else:
        items = [("Baseline version", b.version), ("Parent", b.parent or "none (first version)"),
                 ("Reference metric", b.reference_metric or "–"),
                 ("Check against the parent", f"{b.check_status}: {b.check}")]
        if b.features:
            items.append(("Features merged since the parent",
                          "; ".join(f"{qid}: {delta}" for qid, delta in b.features)))
        blocks.append(Fields(tuple(items)))
    q = r.question
    if q.feature_keys or q.feature_delta:
        blocks.append(Fields((
            ("Feature keys", ", ".join(q.feature_keys) or "–"),
            ("Feature change", ", ".join(f"{k}={v}" for k, v in q.feature_delta) or "–"))))
    blocks.append(Heading("Config diff against the baseline"))
    if r.config_changes:
        blocks.append(Table(("key", "baseline", "runs' value", "runs"),
                            tuple((c.key, c.baseline, c.value, _ids(c.runs))
                                  for c in r.config_changes)))
    else:
        blocks.append(Para("The question's runs changed nothing against the baseline "
                           "(or recorded no config)."))
    c = r.code
    blocks.append(Heading("Code and environment"))
    items2 = [
        ("Git commits", "; ".join(f"{commit[:12]}{' (dirty)' if dirty else ''} × {n}"
                                  for commit, dirty, n in c.commits) or "none recorded"),
        ("Code snapshots", "; ".join(f"{snap[:12]} × {n}" for snap, n in c.snapshots)
         or "none recorded"),
        ("Python", ", ".join(c.python) or "–"),
        ("Hardware", "; ".join(c.hardware) or "–"),
        ("Packages", "; ".join(f"{name} {ver}" for name, ver in c.packages) or "–"),
    ]
    if c.runs_without_capture:
        items2.append(("Runs with no code or environment captured",
                       _ids(c.runs_without_capture)))
    blocks.append(Fields(tuple(items2)))
    return Section("Setup", tuple(blocks))


def _end(text: str | None) -> str:
    """``text`` as the end of a sentence: one full stop."""
    return (text or "no reason given").rstrip(". ") + "."


def _ids(ids: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(i[:10] for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _results(r: Report) -> Section:
    if not r.runs:
        return Section("Results", (Para("No runs yet: neither the question nor its baseline "
                                        "has a run."),))
    rows = tuple((row.arm, row.id[:10], row.name, row.kind, row.status, row.rung or "–",
                  row.seed or "–", fmt(row.value), fmt(row.compute, 3),
                  "yes" if row.used else "no", row.note) for row in r.runs)
    arrow = "lower" if r.lower_is_better else "higher"
    return Section("Results", (
        Para(f"{r.metric} ({arrow} is better) from each run's summary; C in FLOPs (the "
             "summary's flops, else 6·N·D). 'used' says whether the run is a finished result."),
        Table(("arm", "run", "name", "kind", "status", "rung", "seed", r.metric, "C", "used",
               "note"), rows)))


def _fit(r: Report) -> Section:
    f = r.fit
    if not f.available:
        return Section("Scaling law", (Fig("fit", f"No law was fitted: {_end(f.reason)}"),))
    pct = f"{f.confidence:.0%}"
    blocks: list[Block] = [
        Para(f"{f.form} law {f.formula} fitted to {f.n_points} runs ({f.source}); FLOPs: "
             f"{f.flops_method}; {f.n_bootstrap} bootstrap refits; rmse of log loss "
             f"{fmt(f.rmse_log, 3)}."),
        Table(("parameter", "value", f"{pct} CI"),
              tuple((p.name, fmt(p.value), interval(p.ci_low, p.ci_high, unbounded=False))
                    for p in f.params)),
    ]
    hold = f.holdout_note
    if f.holdout_mean_error is not None:
        hold += f"; mean |error| {f.holdout_mean_error:.2%}"
    if f.holdout_max_error is not None:
        hold += f", max {f.holdout_max_error:.2%}"
    blocks.append(Para(f"Held-out extrapolation: {hold}."))
    if f.compute_range:
        blocks.append(Para(f"Fitted compute range: {f.compute_range[0]:.3g} to "
                           f"{f.compute_range[1]:.3g} FLOPs."))
    if f.skipped:
        blocks.append(Para("Skipped: " + "; ".join(f"{i[:10]} ({why})" for i, why in f.skipped)))
    blocks.append(Fig("fit"))
    return Section("Scaling law", tuple(blocks))


def _gain_cells(row: GainRow) -> tuple[str, ...]:
    r = row.rung
    return (r.label, fmt(r.compute, 3), fmt(r.loss), fmt(r.compute_predicted, 3),
            fmt(r.gain) if r.defined else "undefined",
            interval(r.ci_low, r.ci_high) if r.defined else "–",
            _ids(row.runs, 3), ("extrapolated; " if row.extrapolated else "") + r.remarks)


def _gain(r: Report) -> Section:
    g = r.gain
    if not g.available:
        return Section("Efficiency gain", (Fig("gain", f"No gain: {_end(g.reason)}"),))
    rows = tuple(_gain_cells(row) for row in g.rows)
    lo, hi = g.slope_ci
    blocks: list[Block] = [
        Para(f"Gain = the compute the baseline's law needs to reach each rung's {r.metric}, "
             f"divided by the compute the rung spent ({g.comparison}); seeds at a rung are "
             "averaged."),
        Table(("rung", "C", r.metric, "baseline C for it", "gain", f"{g.confidence:.0%} CI",
               "runs", "note"), rows),
        Para(f"Trend: {g.verdict.upper()}: slope of ln(gain) per decade of compute "
             f"{fmt(g.slope_per_decade, 3)} {interval(lo, hi, unbounded=False)} "
             f"over {g.n_rungs} rung(s). "
             f"{g.explanation}", emphasis=True),
    ]
    if g.skipped:
        blocks.append(Para("Not used: " + "; ".join(f"{i[:10]} ({why})" for i, why in g.skipped)))
    blocks.append(Fig("gain"))
    return Section("Efficiency gain", tuple(blocks))


def _stratified(r: Report) -> Section:
    s = r.stratified
    if not s.available:
        return Section("Stratified evaluation",
                       (Fig("stratified", f"No stratified evaluation: {_end(s.reason)}"),))
    blocks: list[Block] = []
    for arm in s.arms:
        pct = "95%"
        rows = tuple((b.field, b.bucket + (" (weakest)" if b.weakest else "")
                      + (" (thin)" if b.thin else ""), str(b.count), fmt(b.mean), fmt(b.std),
                      fmt(b.worst), interval(b.ci_low, b.ci_high, unbounded=False))
                     for b in (*arm.rows, arm.overall))
        blocks.append(Heading(f"{arm.arm} run {arm.run_id[:10]} ({arm.run_name}), eval set "
                              f"{arm.eval_name}: {arm.n_records} examples"))
        blocks.append(Table(("field", "bucket", "count", f"mean {arm.metric}", "std",
                             "worst 5%", f"{pct} CI"), rows))
        if arm.findings:
            blocks.append(Bullets(arm.findings))
    if s.comparison:
        blocks.append(Heading("Feature against baseline, bucket by bucket"))
        blocks.append(Table(("field", "bucket", "baseline", "feature", "feature − baseline",
                             "95% CI", "verdict"),
                            tuple((d.field, d.bucket, fmt(d.mean_baseline), fmt(d.mean_feature),
                                   fmt(d.diff),
                                   interval(d.ci_low, d.ci_high, unbounded=False), d.verdict)
                                  for d in s.comparison)))
        if s.largest_regression:
            blocks.append(Para(f"Regression: {s.largest_regression}.", emphasis=True))
    if s.reason:
        blocks.append(Para(f"Note: {s.reason}."))
    blocks.append(Fig("stratified"))
    return Section("Stratified evaluation", tuple(blocks))


def _standards(r: Report) -> Section:
    s = r.standards
    tier = f"tier {s.tier}" if s.tier else "no baseline tier"
    blocks: list[Block] = []
    if not s.results:
        blocks.append(Para(f"No evaluation suites: {tier} has none and no run of the question "
                           "was checked against one."))
    else:
        attached = ", ".join(s.tier_suites) or "none"
        blocks.append(Para(f"Evaluation suites of {tier}: {attached}. Per run and suite version, "
                           "the newest recorded check (`stepstone suite check`, or when the run "
                           "finished); a run that finished before a suite existed is checked "
                           "for this report and the check is not recorded. A check without its "
                           "number fails."))
        rows = []
        for res in s.results:
            for c in res.checks:
                note = c.why
                if not res.recorded:
                    note = "; ".join(x for x in (note, "not recorded: checked for this report")
                                     if x)
                rows.append((res.arm, res.run_id[:10], res.run_name, res.suite, c.check,
                             fmt(c.value, 6), f"{c.op} {c.threshold:.6g}",
                             "PASS" if c.passed else "FAIL", note))
        blocks.append(Table(("arm", "run", "name", "suite", "check", "value", "needs",
                             "result", "note"), tuple(rows)))
        failed = [res for res in s.results if not res.passed]
        blocks.append(Para(f"{len(failed)} of {len(s.results)} run and suite pairs fail."
                           if failed else f"All {len(s.results)} run and suite pairs pass.",
                           emphasis=bool(failed)))
    blocks.append(Heading("Precision lints"))
    if s.lints:
        where = {"config": "from its config", "recorded": "recorded while it ran"}
        blocks.append(Bullets(tuple(f"{lint.arm} run {lint.run_id[:10]} ({lint.run_name}), "
                                    f"{where.get(lint.source, lint.source)}: {lint.message}"
                                    for lint in s.lints)))
    else:
        blocks.append(Para("No precision lints: no run's config trains in fp16 without a "
                           "gradient scaler and no run recorded values outside its format."))
    return Section("Standards", tuple(blocks))


def _decision(r: Report) -> Section:
    d = r.decision
    blocks: list[Block] = [Para(f"Rule: {r.question.rule}. Proposed answer from the evidence: "
                                f"{d.proposed}.", emphasis=True)]
    if d.reasons:
        blocks.append(Bullets(d.reasons))
    if d.gains:
        blocks.append(Table(("rung", "gain the rule read", "interval"),
                            tuple((rung, fmt(v), interval(lo, None if math.isinf(hi) else hi))
                                  for rung, v, lo, hi in d.gains)))
    if d.flags:
        blocks.append(Heading("Flags"))
        blocks.append(Bullets(d.flags))
    if d.answer:
        blocks.append(Para(f"Recorded answer: {d.answer}"
                           + (f" (overrides the proposal {d.proposed})" if d.overridden
                              else "") + "."))
    else:
        blocks.append(Para(f"Not decided yet: `stepstone decide {r.question.id} --conclusion "
                           "\"...\"` records the answer."))
    for page in d.pages:
        blocks.append(Para(f"Notebook page {page.number}: {page.title}"))
    return Section("Decision", tuple(blocks))


def _conclusion(r: Report) -> Section:
    d = r.decision
    if d.conclusion:
        return Section("Conclusion", (Para(d.conclusion),))
    if r.question.status == "abandoned":
        return Section("Conclusion", (Para(f"The question was abandoned: "
                                           f"{r.question.reason or 'no reason given'}."),))
    return Section("Conclusion", (Para("No conclusion written yet."),))


def _caveats(r: Report) -> Section:
    if not r.caveats:
        return Section("Caveats", (Para("None found: every run finished, the buckets are "
                                        "full and the rungs lie within the fitted range."),))
    return Section("Caveats", (Bullets(r.caveats),))


def _reproduce(r: Report) -> Section:
    if not r.reproduce:
        return Section("Reproduce", (Para("No runs to reproduce."),))
    blocks: list[Block] = [Para("Per run: the command as it ran (and where), and the same run "
                                "relaunched against its baseline with its config overrides.")]
    for row in r.reproduce:
        head = f"{row.arm} run {row.run_id} ({row.name}), {row.kind}, {row.status}"
        blocks.append(Heading(head))
        items = [("Git commit", (row.git_commit or "none recorded")
                  + (" (dirty: uncommitted changes)" if row.git_dirty else "")),
                 ("Code snapshot", row.code_snapshot or "none recorded"),
                 ("Overrides", " ".join(row.overrides) or "none")]
        blocks.append(Fields(tuple(items)))
        lines = []
        where = f"cd {_quote(row.cwd)} && " if row.cwd else ""
        if row.command:
            lines += ["# as it ran", where + row.command]
        if row.stepstone_command:
            lines += ["# relaunched against its baseline (config verified before launch)",
                      where + row.stepstone_command]
        blocks.append(Code("\n".join(lines)) if lines else Para("No command was recorded."))
    return Section("Reproduce", tuple(blocks))


def _quote(path: str | None) -> str:
    import shlex

    return shlex.quote(path or ".")


# -- Markdown ----------------------------------------------------------------------------------
def _md(text: str) -> str:
    """User text made inert in Markdown: no raw HTML, no table breaks."""
    return text.replace("<", "&lt;")


def _md_cell(text: str) -> str:
    return _md(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _md_code_fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}bash\n{text}\n{fence}"


def _md_block(block: Block, figures: dict[str, FigureOut], figure_link: str) -> str:
    if isinstance(block, Para):
        text = _md(block.text)
        return f"**{text}**" if block.emphasis else text
    if isinstance(block, Heading):
        return f"### {_md(block.text)}"
    if isinstance(block, Fields):
        return "\n".join(f"- **{_md(k)}:** {_md(v)}" for k, v in block.items)
    if isinstance(block, Bullets):
        return "\n".join(f"- {_md(item)}".replace("\n", "\n  ") for item in block.items)
    if isinstance(block, Table):
        lines = ["| " + " | ".join(_md_cell(c) for c in block.columns) + " |",
                 "| " + " | ".join("---" for _ in block.columns) + " |"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Code):
        return _md_code_fence(block.text)
    fig = figures.get(block.name)
    if fig is None:
        return f"*{_md(block.fallback)}*" if block.fallback else ""
    if fig.png is None:
        return f"*{_md(fig.reason or 'No figure.')}*"
    return f"![{_md(fig.title)}]({figure_link}/{fig.filename})"


def render_markdown(report: Report, figures_dir: str | Path | None = None, *,
                    figures: Sequence[FigureOut] | None = None) -> str:
    """The report as Markdown. With ``figures_dir`` the PNGs are written there and linked
    as ``<figures_dir name>/<figure>.png`` (the Markdown file goes in its parent folder);
    without it, figures are left out and each is replaced by its title."""
    made = {f.name: f for f in (figures if figures is not None else make_figures(report))}
    link = "figures"
    if figures_dir is not None:
        folder = Path(figures_dir)
        folder.mkdir(parents=True, exist_ok=True)
        link = folder.name
        for fig in made.values():
            if fig.png is not None:
                (folder / fig.filename).write_bytes(fig.png)
    else:
        made = {k: (v if v.png is None else FigureOut(v.name, v.title, None,
                                                      f"Figure: {v.title} (not written)."))
                for k, v in made.items()}
    parts = [f"# {_md(title_of(report))}", "",
             f"_Generated by `stepstone report {report.question.id}` on {report.created_at}._"]
    for section in document(report):
        parts += ["", f"## {section.title}", ""]
        parts.append("\n\n".join(s for s in (_md_block(b, made, link) for b in section.blocks)
                                 if s))
    return "\n".join(parts) + "\n"


# -- HTML --------------------------------------------------------------------------------------
CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
       max-width: 1080px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.6em; border-bottom: 2px solid #1f4e79; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 2em; color: #1f4e79; border-bottom: 1px solid #d6dde8; }
h3 { font-size: 1.02em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 13px; }
th, td { border: 1px solid #d6dde8; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef2f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f5f7fa; border: 1px solid #d6dde8; padding: .7em; overflow-x: auto;
      font-size: 12.5px; white-space: pre-wrap; word-break: break-all; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #d6dde8; }
figcaption { font-size: 13px; color: #555; }
p.missing { font-style: italic; color: #8a4b08; }
p.emphasis { font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; }
dt { font-weight: 600; } dd { margin: 0; }
.meta { color: #666; font-size: 13px; }
"""


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _numeric(text: str) -> bool:
    try:
        float(text.replace("∞", "inf"))
    except ValueError:
        return text == "–"
    return True


def _html_block(block: Block, figures: dict[str, FigureOut]) -> str:
    if isinstance(block, Para):
        cls = ' class="emphasis"' if block.emphasis else ""
        return f"<p{cls}>{_e(block.text)}</p>"
    if isinstance(block, Heading):
        return f"<h3>{_e(block.text)}</h3>"
    if isinstance(block, Fields):
        inner = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in block.items)
        return f"<dl>{inner}</dl>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{_e(c)}</th>" for c in block.columns)
        body = "".join(
            "<tr>" + "".join(f'<td class="num">{_e(c)}</td>' if _numeric(c)
                             else f"<td>{_e(c)}</td>" for c in row) + "</tr>"
            for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Code):
        return f"<pre><code>{_e(block.text)}</code></pre>"
    fig = figures.get(block.name)
    if fig is None:
        return f'<p class="missing">{_e(block.fallback)}</p>' if block.fallback else ""
    if fig.png is None:
        return f'<p class="missing">{_e(fig.reason or "No figure.")}</p>'
    data = base64.b64encode(fig.png).decode("ascii")
    return (f'<figure><img alt="{_e(fig.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(fig.title)}</figcaption></figure>")


def render_html(report: Report, *, figures: Sequence[FigureOut] | None = None) -> str:
    """The report as one self-contained HTML page: figures as base64 PNG, CSS inline, no
    external URL, every piece of user text escaped."""
    made = {f.name: f for f in (figures if figures is not None else make_figures(report))}
    title = title_of(report)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1>",
             f'<p class="meta">Generated by <code>stepstone report {_e(report.question.id)}'
             f"</code> on {_e(report.created_at)}.</p>"]
    for section in document(report):
        slug = section.title.lower().replace(" ", "-")
        parts.append(f'<section id="{slug}"><h2>{_e(section.title)}</h2>')
        parts += [s for s in (_html_block(b, made) for b in section.blocks) if s]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
