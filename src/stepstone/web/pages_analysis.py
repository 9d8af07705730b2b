"""Analysis pages: a question's scaling fit and gain, Pareto fronts, stratified evaluations.

Each page has a JSON twin under ``/api`` built by the same function in
:mod:`stepstone.web.analysis`. A fit or gain that cannot be made is said on the page; a bad
request (an unknown run, a constraint that does not parse) is a 4xx: on a page, the page
itself with the message beside the form; on the API, the one error shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from stepstone.errors import StepstoneError
from stepstone.store.lab import Lab
from stepstone.web import analysis
from stepstone.web.common import lab_of, page, status_of

router = APIRouter()
api_router = APIRouter(prefix="/api")


def _opt(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


# -- scaling ----------------------------------------------------------------------------------
@router.get("/scaling", response_class=HTMLResponse)
def scaling_page(request: Request, question: str = "", baseline: str = "", metric: str = "",
                 lab: Lab = Depends(lab_of)) -> HTMLResponse:
    if not _opt(question) and not _opt(baseline):
        return page(request, "scaling.html", data=None, choices=analysis.scaling_choices(lab),
                    nav="scaling")
    data = analysis.scaling_data(lab, _opt(question), _opt(baseline), _opt(metric))
    return page(request, "scaling.html", data=data, choices=None, nav="scaling")


@api_router.get("/scaling")
def scaling_api(question: str = "", baseline: str = "", metric: str = "",
                lab: Lab = Depends(lab_of)) -> dict[str, Any]:
    """The baseline law, its band, the question's points and gains (see the page)."""
    return analysis.scaling_data(lab, _opt(question), _opt(baseline), _opt(metric))


# -- Pareto -----------------------------------------------------------------------------------
@router.get("/pareto", response_class=HTMLResponse)
def pareto_page(
    request: Request, quality: str = "", cost: str = "",
    constraint: list[str] = Query([]), minimize: bool = False,
    project: str = "", tag: str = "", question: str = "", smoke: bool = False,
    lab: Lab = Depends(lab_of),
) -> HTMLResponse:
    form = {"quality": quality, "cost": cost, "constraint": [c for c in constraint if c],
            "minimize": minimize, "project": project, "tag": tag, "question": question,
            "smoke": smoke}
    try:
        data = analysis.pareto_data(
            lab, quality=quality, cost=[cost] if cost else [], constraint=constraint,
            minimize=minimize, project=_opt(project), tag=_opt(tag), question=_opt(question),
            smoke=smoke)
    except StepstoneError as exc:  # a bad constraint or filter: say so beside the form
        status, message = status_of(exc)
        try:
            keys = analysis.numeric_keys(analysis.pareto_runs(lab, None, None, None)[0])
        except StepstoneError:
            keys = []
        return page(request, "pareto.html", status_code=status, data=None, error=message,
                    form=form, keys=keys, nav="pareto")
    return page(request, "pareto.html", data=data, error=None, form=form, keys=data["keys"],
                nav="pareto")


@api_router.get("/pareto")
def pareto_api(
    quality: str = "", cost: list[str] = Query([]), constraint: list[str] = Query([]),
    minimize: bool = False, project: str = "", tag: str = "", question: str = "",
    smoke: bool = False, lab: Lab = Depends(lab_of),
) -> dict[str, Any]:
    """Quality against cost: every qualified run, the frontier, the disqualified with why
    (smoke runs left out unless ``smoke``)."""
    return analysis.pareto_data(lab, quality=quality, cost=cost, constraint=constraint,
                                minimize=minimize, project=_opt(project), tag=_opt(tag),
                                question=_opt(question), smoke=smoke)


# -- stratified -------------------------------------------------------------------------------
@router.get("/stratified", response_class=HTMLResponse)
def stratified_page(
    request: Request, run: str = "", against: str = "", by: str = "", name: str = "",
    metric: str = "", lower: bool = False, min_count: int = Query(30, ge=1, le=100_000),
    lab: Lab = Depends(lab_of),
) -> HTMLResponse:
    if not _opt(run):
        return page(request, "stratified.html", data=None, runs=analysis.eval_runs(lab),
                    nav="stratified")
    data = analysis.stratified_data(lab, run.strip(), against=_opt(against), by=_opt(by),
                                    name=_opt(name), metric=_opt(metric),
                                    lower_is_better=lower, min_count=min_count)
    return page(request, "stratified.html", data=data, runs=analysis.eval_runs(lab),
                nav="stratified")


@api_router.get("/stratified")
def stratified_api(
    run: str = Query(..., min_length=1), against: str = "", by: str = "", name: str = "",
    metric: str = "", lower: bool = False, min_count: int = Query(30, ge=1, le=100_000),
    lab: Lab = Depends(lab_of),
) -> dict[str, Any]:
    """Per-bucket statistics of a run's eval records (and a second run's beside them)."""
    return analysis.stratified_data(lab, run.strip(), against=_opt(against), by=_opt(by),
                                    name=_opt(name), metric=_opt(metric),
                                    lower_is_better=lower, min_count=min_count)
