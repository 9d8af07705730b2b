"""Pages of the research method: questions, ideas, baselines, the notebook (all read-only).

The rules (time boxes, idea ranking, baseline regressions) come from ``stepstone.method``;
these pages only show what they say.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from stepstone.method import evaluator
from stepstone.method import questions as question_rules
from stepstone.method.baselines import history
from stepstone.method.ideas import ranked
from stepstone.method.notebook import pages
from stepstone.store.lab import Lab
from stepstone.web.common import lab_of, page

router = APIRouter()


@router.get("/questions", response_class=HTMLResponse)
def questions_page(request: Request, lab: Lab = Depends(lab_of)) -> HTMLResponse:
    now = time.time()
    groups: dict[str, list[dict[str, Any]]] = {s: [] for s in question_rules.STATUSES}
    for question in lab.questions.list():
        groups.setdefault(question.status, []).append({
            **question.to_dict(), "left_hours": question_rules.hours_left(question, now),
            "overdue": question_rules.hours_over(question, now) is not None,
            "evaluator_differs": evaluator.flagged(lab, question.id)})
    return page(request, "questions.html", groups=groups)


@router.get("/ideas", response_class=HTMLResponse)
def ideas_page(request: Request, lab: Lab = Depends(lab_of)) -> HTMLResponse:
    ideas = [{**r.to_dict(), "events": lab.ideas.events(r.idea.id)}
             for r in ranked(lab, include_closed=True)]
    return page(request, "ideas.html", ideas=ideas)


@router.get("/baselines", response_class=HTMLResponse)
def baselines_page(request: Request, lab: Lab = Depends(lab_of)) -> HTMLResponse:
    tiers = sorted({r.tier for r in lab.baselines.list()})
    lineages = []
    for tier in tiers:
        versions = history(lab, tier)
        metric = next((v.baseline.reference_metric for v in reversed(versions)
                       if v.baseline.reference_metric), None)
        points = []
        for v in versions:
            ref = v.reference_metrics.get(metric) if metric else None
            points.append({"version": v.baseline.version, "value": ref.mean if ref else None,
                           "regressed": v.check.status == "regressed"})
        lineages.append({"tier": tier, "versions": versions, "metric": metric,
                         "points": points})
    return page(request, "baselines.html", lineages=lineages)


@router.get("/notebook", response_class=HTMLResponse)
def notebook_page(request: Request, question: str | None = None,
                  lab: Lab = Depends(lab_of)) -> HTMLResponse:
    found = pages(lab, question or None)
    corrected_by: dict[int, list[int]] = {}
    for p in found:
        if p.corrects:
            corrected_by.setdefault(p.corrects, []).append(p.number)
    return page(request, "notebook.html", pages=found, corrected_by=corrected_by,
                question=question)
