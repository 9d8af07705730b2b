"""The notebook: numbered, append-only pages, and the pages the method writes itself.

Kinds: ``result`` (written automatically when a run ends or a question is decided),
``note``, ``decision``, ``plan`` (the day's plan; the next day asks for its review) and
``correction`` (points at an earlier page, which is never changed).
"""

from __future__ import annotations

import getpass
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepstone.display import changes, day, when
from stepstone.errors import UsageError
from stepstone.method import evaluator, lints
from stepstone.method.schedule import schedule_incomplete
from stepstone.store.lab import Lab

if TYPE_CHECKING:  # the suites are imported only for a run of a tier (see result_page)
    from stepstone.method.suites import SuiteResult

KINDS = ("result", "note", "decision", "plan", "correction")
WRITABLE = ("note", "decision", "plan", "correction")


def write(lab: Lab, kind: str, title: str, body: str, *, question_id: str | None = None,
          run_id: str | None = None, corrects: int | None = None, review_of: int | None = None,
          data: dict[str, Any] | None = None) -> dict[str, Any]:
    if kind not in KINDS:
        raise UsageError(f"a page kind is one of {', '.join(KINDS)}, not {kind!r}")
    number = lab.notebook.append(kind=kind, title=title, body=body, question_id=question_id,
                                 run_id=run_id, corrects=corrects, review_of=review_of,
                                 data=data)
    return lab.notebook.get(number)


def note(lab: Lab, text: str, *, kind: str = "note", question: str | None = None,
         corrects: int | None = None, review: int | None = None) -> dict[str, Any]:
    """A page written by hand; a correction must point at an earlier page."""
    if not text.strip():
        raise UsageError("a page needs some text")
    if kind not in WRITABLE:
        raise UsageError(f"--kind is one of {', '.join(WRITABLE)} (result pages are written "
                         "by stepstone itself)")
    if corrects is not None:
        lab.notebook.get(corrects)
        kind = "correction"
    elif kind == "correction":
        raise UsageError("a correction points at the page it corrects: --corrects PAGE")
    if question is not None:
        lab.questions.get(question)
    if review is not None:
        page = lab.notebook.get(review)
        if page["kind"] != "plan":
            raise UsageError(f"page {review} is a {page['kind']} page, not a day's plan")
    first, _, rest = text.strip().partition("\n")
    title, body = first.strip(), rest.strip()  # the first line titles the page, once
    if len(title) > 80:  # too long for a title: cut it, and keep the whole text as the body
        title, body = title[:79] + "…", text.strip()
    if corrects is not None:
        title = f"Correction of page {corrects}: {title}"
    elif review is not None:
        title = f"Review of the plan on page {review}: {title}"
    return write(lab, kind, title, body, question_id=question, corrects=corrects,
                 review_of=review)


def author() -> str:
    """Who writes a day's plan: the login name (on a team store, each person reviews theirs)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def plan_day(lab: Lab, text: str) -> dict[str, Any]:
    if not text.strip():
        raise UsageError("a day's plan needs some text")
    return write(lab, "plan", f"Plan for {day(time.time())}", text.strip(),
                 data={"author": author()})


def pending_review(lab: Lab, now: float | None = None) -> dict[str, Any] | None:
    """The latest plan page of an earlier day, written by this user (or by no one named),
    that has no review yet, with the prompt."""
    now = time.time() if now is None else now
    me = author()
    plans = [p for p in lab.notebook.pages(kind="plan") if day(p["created_at"]) < day(now)
             and (p.get("data") or {}).get("author", me) == me]
    if not plans:
        return None
    reviewed = {p["review_of"] for p in lab.notebook.pages() if p["review_of"] is not None}
    last = plans[-1]
    if last["number"] in reviewed:
        return None
    return {"page": last["number"], "day": day(last["created_at"]), "plan": last["body"],
            "prompt": (f"The plan of {day(last['created_at'])} (page {last['number']}) has no "
                       "review: what was done, and why was the rest not? Answer with "
                       f"`stepstone note --review {last['number']} \"...\"`.")}


def _run_lines(lab: Lab, run_id: str) -> tuple[str, dict[str, Any]]:
    run = lab.runs.get(run_id)
    lines = [f"Run `{run.id}` `{run.name}` ({run.kind}) ended **{run.status}**"
             + (f": {run.reason}" if run.reason else "") + "."]
    if run.baseline:
        lines.append(f"Baseline: {run.baseline}.")
    if run.config_delta:
        lines.append("Config change: " + changes(dict(sorted(run.config_delta.items()))))
    schedule = schedule_incomplete(lab, run)
    if schedule:
        lines.append(f"Not a finished result: {schedule}.")
    numbers = {k: v for k, v in run.summary.items() if isinstance(v, int | float)}
    for key, value in numbers.items():
        lines.append(f"- {key} = {value:.6g}" if isinstance(value, float) else
                     f"- {key} = {value}")
    warnings = lints.run_lints(run.config, run.summary)
    lines += [f"Precision lint: {w}" for w in warnings]
    checks: list[SuiteResult] = []
    if run.baseline:  # only a tier's run has suites: the rest skip their import (~60 ms)
        from stepstone.method import suites

        checks = suites.check_on_finish(lab, run.id)
        lines += suites.lines(checks)
    evaluator.pin(lab, run)
    other = evaluator.differs(lab, run)
    if other:
        lines.append(f"Evaluator: {other}; `decide` leaves this run out.")
    data = {"run_id": run.id, "status": run.status, "summary": numbers,
            "incomplete_schedule": schedule, "precision_lints": warnings,
            "suites": [c.to_dict() for c in checks],
            "evaluator_differs": other}
    return "\n".join(lines), data


def record_run_result(lab: Lab, run_id: str) -> dict[str, Any] | None:
    """Write the result page of a run that ended (once per status): the SDK's finish path
    (``run.finish()``, an uncaught exception, Ctrl-C, SIGTERM) calls it for a run it made,
    :func:`stepstone.launch.process.run_attached` for every run a launcher runs, and
    ``abandon``."""
    run = lab.runs.get(run_id)
    if run.status == "running":
        return None
    for page in lab.notebook.pages(run_id=run.id, kind="result"):
        if page["data"].get("status") == run.status:
            return page
    body, data = _run_lines(lab, run.id)
    return write(lab, "result", f"Run {run.name} {run.status}", body,
                 question_id=run.question_id, run_id=run.id, data=data)


def pages(lab: Lab, question: str | None = None) -> list[dict[str, Any]]:
    if question is not None:
        lab.questions.get(question)
    return lab.notebook.pages(question_id=question)


def text(pages: list[dict[str, Any]]) -> str:
    """Pages as plain text, each under a line with its number, kind, time and title."""
    return "\n".join(f"--- page {p['number']} · {p['kind']} · {when(p['created_at'])} · "
                     f"{p['title']}\n{p['body']}" for p in pages)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:60] or "page"


def export(lab: Lab, folder: Path) -> list[Path]:
    """Markdown for Obsidian: one file per question (and ``lab-notebook.md`` for the rest),
    each page a heading ``page-N`` that other pages link to with ``[[file#page-N]]``: the page
    a correction corrects, a review reviews and a decision's evidence; a page's run is named
    under its heading."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write to {folder}: {exc.strerror}") from exc
    all_pages = lab.notebook.pages()
    questions = {q["id"]: q for q in lab.questions.list()}
    names = {qid: f"{qid} {_slug(q['text'])}" for qid, q in questions.items()}
    home = "lab-notebook"
    where = {p["number"]: names.get(p["question_id"] or "", home) for p in all_pages}
    groups: dict[str, list[dict[str, Any]]] = {}
    for page in all_pages:
        groups.setdefault(where[page["number"]], []).append(page)
    for qid in questions:
        groups.setdefault(names[qid], [])
    groups.setdefault(home, [])
    written = []
    for name, group in sorted(groups.items()):
        qid = next((k for k, v in names.items() if v == name), None)
        lines = [f"# {name}", ""]
        if qid is not None:
            q = questions[qid]
            lines += [f"Question: {q['text']}", f"Rule: `{q['rule']}`",
                      f"Status: {q['status']}" + (f" ({q['answer']})" if q["answer"] else ""),
                      *([f"Conclusion: {q['conclusion']}"] if q["conclusion"] else []),
                      f"Back to [[{home}]]", ""]
        for page in group:
            stamp = when(page["created_at"])
            lines += [f"## page-{page['number']}", "",
                      f"**{page['kind']}** · {stamp} · {page['title']}", ""]
            evidence = (page.get("data") or {}).get("evidence_page")
            for ref, label in ((page["corrects"], "Corrects"), (page["review_of"], "Reviews"),
                               (evidence, "Evidence")):
                if isinstance(ref, int):
                    lines.append(f"{label} [[{where.get(ref, home)}#page-{ref}]]")
            if page["run_id"]:
                lines.append(f"Run `{page['run_id']}`")
            lines += [page["body"], ""]
        if name == home:
            lines += ["## Questions", ""] + [f"- [[{n}]]" for n in sorted(names.values())]
        path = folder / f"{name}.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written
