"""The notebook: numbered, append-only pages, and the pages the method writes itself.

Kinds: ``result`` (written automatically when a run ends, :mod:`stepstone.method.result_page`,
or a question is decided),
``note``, ``decision``, ``plan`` (the day's plan; the next day asks for its review) and
``correction`` (points at an earlier page, which is never changed).
"""

from __future__ import annotations

import getpass
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stepstone.display import day, when
from stepstone.errors import UsageError
from stepstone.store.lab import Lab
from stepstone.store.notebook import Page

KINDS = ("result", "note", "decision", "plan", "correction")
WRITABLE = ("note", "decision", "plan", "correction")


def write(lab: Lab, kind: str, title: str, body: str, *, question_id: str | None = None,
          run_id: str | None = None, corrects: int | None = None, review_of: int | None = None,
          data: dict[str, Any] | None = None) -> Page:
    if kind not in KINDS:
        raise UsageError(f"a page kind is one of {', '.join(KINDS)}, not {kind!r}")
    number = lab.notebook.append(kind=kind, title=title, body=body, question_id=question_id,
                                 run_id=run_id, corrects=corrects, review_of=review_of,
                                 data=data)
    return lab.notebook.get(number)


def note(lab: Lab, text: str, *, kind: str = "note", question: str | None = None,
         corrects: int | None = None, review: int | None = None) -> Page:
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
        if page.kind != "plan":
            raise UsageError(f"page {review} is a {page.kind} page, not a day's plan")
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


def plan_day(lab: Lab, text: str) -> Page:
    if not text.strip():
        raise UsageError("a day's plan needs some text")
    return write(lab, "plan", f"Plan for {day(time.time())}", text.strip(),
                 data={"author": author()})


@dataclass(frozen=True)
class PendingReview:
    """The latest day's plan of this user that waits for its review, and the prompt."""

    page: int
    day: str
    plan: str
    prompt: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pending_review(lab: Lab, now: float | None = None) -> PendingReview | None:
    """The latest plan page of an earlier day, written by this user (or by no one named),
    that has no review yet, with the prompt."""
    now = time.time() if now is None else now
    me = author()
    plans = [p for p in lab.notebook.pages(kind="plan") if day(p.created_at) < day(now)
             and p.data.get("author", me) == me]
    if not plans:
        return None
    reviewed = {p.review_of for p in lab.notebook.pages() if p.review_of is not None}
    last = plans[-1]
    if last.number in reviewed:
        return None
    return PendingReview(last.number, day(last.created_at), last.body,
                         f"The plan of {day(last.created_at)} (page {last.number}) has no "
                         "review: what was done, and why was the rest not? Answer with "
                         f"`stepstone note --review {last.number} \"...\"`.")


def pages(lab: Lab, question: str | None = None) -> list[Page]:
    if question is not None:
        lab.questions.get(question)
    return lab.notebook.pages(question_id=question)


def text(pages: list[Page]) -> str:
    """Pages as plain text, each under a line with its number, kind, time and title."""
    return "\n".join(f"--- page {p.number} · {p.kind} · {when(p.created_at)} · "
                     f"{p.title}\n{p.body}" for p in pages)


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
    questions = {q.id: q for q in lab.questions.list()}
    names = {qid: f"{qid} {_slug(q.text)}" for qid, q in questions.items()}
    home = "lab-notebook"
    where = {p.number: names.get(p.question_id or "", home) for p in all_pages}
    groups: dict[str, list[Page]] = {}
    for page in all_pages:
        groups.setdefault(where[page.number], []).append(page)
    for qid in questions:
        groups.setdefault(names[qid], [])
    groups.setdefault(home, [])
    written = []
    for name, group in sorted(groups.items()):
        named = next((k for k, v in names.items() if v == name), None)
        lines = [f"# {name}", ""]
        if named is not None:
            q = questions[named]
            lines += [f"Question: {q.text}", f"Rule: `{q.rule}`",
                      f"Status: {q.status}" + (f" ({q.answer})" if q.answer else ""),
                      *([f"Conclusion: {q.conclusion}"] if q.conclusion else []),
                      f"Back to [[{home}]]", ""]
        for page in group:
            stamp = when(page.created_at)
            lines += [f"## page-{page.number}", "",
                      f"**{page.kind}** · {stamp} · {page.title}", ""]
            evidence = page.data.get("evidence_page")
            for ref, label in ((page.corrects, "Corrects"), (page.review_of, "Reviews"),
                               (evidence, "Evidence")):
                if isinstance(ref, int):
                    lines.append(f"{label} [[{where.get(ref, home)}#page-{ref}]]")
            if page.run_id:
                lines.append(f"Run `{page.run_id}`")
            lines += [page.body, ""]
        if name == home:
            lines += ["## Questions", ""] + [f"- [[{n}]]" for n in sorted(names.values())]
        path = folder / f"{name}.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written
