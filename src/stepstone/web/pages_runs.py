"""Pages about runs: the runs table, one run (curves, config, code, logs, env), compare."""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from stepstone.configs import diff, flatten
from stepstone.errors import NotFoundError, UsageError
from stepstone.method import evaluator
from stepstone.method.baselines import effective_config
from stepstone.sdk.system import read_system, split_keys, system_table
from stepstone.store.lab import Lab
from stepstone.store.listing import SORT_COLUMNS, Listing
from stepstone.store.runs import STATUSES, RunRecord
from stepstone.web.api import GROUP_NONE, GROUP_SEED, MAX_COMPARE, decode_text
from stepstone.web.artifacts import SHOWN_FILES, run_artifacts
from stepstone.web.common import lab_of, page
from stepstone.web.downsample import lttb_indices
from stepstone.web.media import run_media
from stepstone.web.series import DEFAULT_POINTS

router = APIRouter()
LOG_TAIL_BYTES = 200_000


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=307)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    status: str = "", project: str = "", tag: str = "", name: str = "",
    sort: str = "created", order: str = "desc",
    page_no: int = Query(1, ge=1, le=10**9, alias="page"), per: int = Query(50, ge=1, le=500),
    after: str = "", before: str = "",
    lab: Lab = Depends(lab_of),
) -> HTMLResponse:
    if order not in ("asc", "desc"):
        raise UsageError(f"order is 'asc' or 'desc', not {order!r}")
    listing = Listing(lab.db)
    found = listing.page(
        status=status or None, project=project or None, tag=tag or None, name=name or None,
        sort=sort, descending=order == "desc", limit=per, after=after or None,
        before=before or None, offset=0 if (after or before) else (page_no - 1) * per,
    )
    filters = {"status": status, "project": project, "tag": tag, "name": name}
    pages = max(1, math.ceil(found.total / per), page_no)

    def link(**changes: Any) -> str:
        params = {**filters, "sort": sort, "order": order, "page": page_no, "per": per,
                  **changes}
        return "/runs?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})

    def sort_link(column: str) -> str:
        flip = "asc" if (sort == column and order == "desc") else "desc"
        return link(sort=column, order=flip, page=1)

    return page(
        request, "runs.html", runs=found.runs, total=found.total, exact=found.exact,
        page_no=page_no, pages=pages,
        newer=link(before=found.previous, page=max(page_no - 1, 1)) if found.previous else None,
        older=link(after=found.next, page=page_no + 1) if found.next else None,
        per=per, filters=filters, sort=sort, order=order, statuses=STATUSES,
        projects=listing.projects(), counts=listing.status_counts(),
        sort_columns=list(SORT_COLUMNS), link=link, sort_link=sort_link,
        max_compare=MAX_COMPARE,
    )


def baseline_diff(lab: Lab, run: RunRecord) -> tuple[dict[str, Any] | None, str | None]:
    """The diff of the run's config against its baseline's, or why there is none."""
    if not run.baseline:
        return None, None
    try:
        base = lab.baselines.get(run.baseline)
    except NotFoundError:
        return None, f"baseline {run.baseline} is not in this lab"
    except Exception:  # a lab at an older schema has no baselines table
        return None, "this lab has no baselines table yet"
    result = diff(effective_config(lab, base), run.config)
    return {"version": run.baseline, "entries": list(result.entries)}, None


@router.get("/runs/{ref}", response_class=HTMLResponse)
def run_page(request: Request, ref: str, lab: Lab = Depends(lab_of)) -> HTMLResponse:
    run = lab.runs.get(ref)
    keys = split_keys(lab.metrics.keys(run.id))[0]
    diff_info, diff_note = baseline_diff(lab, run)
    system, system_charts = _system_panel(lab, run)
    return page(
        request, "run.html", run=run, keys=keys, config=flatten(run.config, strict=False),
        points=(lab.metrics.count(run.id) - sum(row["samples"] for row in system)
                + sum(lab.metrics.text_counts(run.id).values())),
        system=system, system_charts=system_charts, diff=diff_info, diff_note=diff_note,
        notebook=_notebook_pages(lab, run.id), texts=lab.metrics.texts(run.id),
        evals=lab.evals.names(run.id), media=run_media(lab, run.id),
        artifacts=run_artifacts(lab, run.id), shown_files=SHOWN_FILES, nav="runs", tab="overview",
        evaluator=evaluator.differs(lab, run), alerts=lab.alerts.of_runs([run.id]),
    )


def _system_panel(lab: Lab, run: RunRecord) -> tuple[list[dict[str, Any]],
                                                     dict[str, dict[str, list[float]]]]:
    """The run's system metrics: a table (samples, last, mean, max per key) and each series
    drawn against minutes since the run started (LTTB-thinned to the usual point budget)."""
    history = read_system(lab, run.id)
    charts: dict[str, dict[str, list[float]]] = {}
    for key, series in history.items():
        pairs = [((t - run.created_at) / 60.0, v)
                 for t, v in zip(series.times, series.values, strict=True) if math.isfinite(v)]
        xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
        keep = lttb_indices(xs, ys, DEFAULT_POINTS)
        charts[key] = {"x": [xs[i] for i in keep], "y": [ys[i] for i in keep]}
    return system_table(history), charts


def _notebook_pages(lab: Lab, run_id: str) -> list[dict[str, Any]] | None:
    """Notebook pages that mention the run: written for it, or naming its id in their title,
    text or data (a decision or an evidence page citing it). Each gets ``cites`` (True when it
    only names the run). None when the lab has no notebook table."""
    try:
        every = lab.notebook.pages(mentioning=run_id)
    except Exception:  # an older lab without the method tables
        return None
    named = re.compile(rf"(?<![0-9A-Za-z_]){re.escape(run_id)}(?![0-9A-Za-z_])")
    found = []
    for entry in every:
        if entry.run_id == run_id:
            found.append({**entry.to_dict(), "cites": False})
        elif any(named.search(text) for text in (
                entry.title, entry.body, json.dumps(entry.data, default=str))):
            found.append({**entry.to_dict(), "cites": True})
    return found


@router.get("/runs/{ref}/code", response_class=HTMLResponse)
def code_page(request: Request, ref: str, path: str | None = None,
              lab: Lab = Depends(lab_of)) -> HTMLResponse:
    run = lab.runs.get(ref)
    files: list[dict[str, Any]] = []
    shown: dict[str, Any] | None = None
    if run.code_snapshot:
        manifest = lab.snapshot_manifest(run.code_snapshot)
        files = [{"path": p, "size": e.get("size")} for p, e in sorted(manifest["files"].items())]
        if path is not None:
            data = lab.snapshot_file(run.code_snapshot, path)  # manifest entries only
            shown = {"path": path, "size": len(data), "text": decode_text(data)}
    return page(request, "code.html", run=run, files=files, shown=shown, nav="runs", tab="code")


@router.get("/runs/{ref}/logs", response_class=HTMLResponse)
def logs_page(request: Request, ref: str, lab: Lab = Depends(lab_of)) -> HTMLResponse:
    run = lab.runs.get(ref)
    text: str | None = None
    cut = 0
    try:
        data = lab.run_object(run.id, "log", "output.log")
    except NotFoundError:
        data = None
    if data is not None:
        cut = max(0, len(data) - LOG_TAIL_BYTES)
        text = data[cut:].decode("utf-8", errors="replace")
    return page(request, "logs.html", run=run, text=text, cut=cut, nav="runs", tab="logs")


@router.get("/runs/{ref}/env", response_class=HTMLResponse)
def env_page(request: Request, ref: str, lab: Lab = Depends(lab_of)) -> HTMLResponse:
    run = lab.runs.get(ref)
    env = dict(run.env or {})
    packages = env.pop("packages", None)
    facts = flatten(env, strict=False) if env else {}
    return page(
        request, "env.html", run=run, facts=facts,
        packages=sorted(packages.items()) if isinstance(packages, dict) else [],
        nav="runs", tab="env",
    )


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request, run: list[str] = Query([]), key: str = "", group: str = GROUP_SEED,
    lab: Lab = Depends(lab_of),
) -> HTMLResponse:
    if len(run) > MAX_COMPARE:
        raise UsageError(f"compare at most {MAX_COMPARE} runs at once, not {len(run)}")
    records = [lab.runs.get(ref) for ref in dict.fromkeys(run)]
    key_sets = [set(lab.metrics.keys(r.id)) for r in records]
    all_keys = sorted(set().union(*key_sets)) if key_sets else []
    common = sorted(set.intersection(*key_sets)) if key_sets else []
    if not key:
        preferred = [k for k in common if "loss" in k] or common or all_keys
        key = preferred[0] if preferred else ""
    elif key not in all_keys:
        raise NotFoundError(f"none of these runs logged {key!r}")
    summary_keys = sorted({k for r in records for k in r.summary})
    configs = [flatten(r.config, strict=False) for r in records]
    config_keys = sorted({k for c in configs for k in c})
    differing = [k for k in config_keys
                 if len({repr(c.get(k, "—")) for c in configs}) > 1]
    return page(
        request, "compare.html", runs=records, key=key, keys=all_keys, common=common,
        summary_keys=summary_keys, configs=configs, differing=differing, nav="compare",
        group=group, group_seed=GROUP_SEED, group_none=GROUP_NONE,
        group_keys=[k for k in config_keys if k not in (GROUP_SEED, GROUP_NONE)],
    )
