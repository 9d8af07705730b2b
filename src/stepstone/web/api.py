"""JSON endpoints under ``/api`` (read-only). Errors: ``{"error": {"status", "message"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from stepstone.analysis.curves import band, group_runs
from stepstone.configs import flatten
from stepstone.display import duration, jsonable
from stepstone.errors import NotFoundError, UsageError
from stepstone.sdk.system import split_keys
from stepstone.store.lab import Lab
from stepstone.store.listing import Listing
from stepstone.web.common import lab_of
from stepstone.web.series import DEFAULT_POINTS, MAX_POINTS, run_series

router = APIRouter(prefix="/api")
MAX_COMPARE = 50
MAX_FILE_BYTES = 1_000_000
MAX_STATUS = 500  # the runs page shows at most 500 rows
MAX_PAGE = 10**9  # beyond any lab: a bigger page number is a mistake, not a request
STEP_LIMIT = 2**63 - 1  # steps are 64-bit integers in the store
GROUP_SEED, GROUP_NONE = "seed", "none"  # compare's grouping: only the seed differs; none


def run_row(run: Any) -> dict[str, Any]:
    return {
        "id": run.id, "name": run.name, "project": run.project, "status": run.status,
        "kind": run.kind, "tags": run.tags, "created_at": run.created_at,
        "last_step": run.last_step, "duration": run.duration, "notes": run.notes,
    }


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/runs")
def runs(
    status: str | None = None, project: str | None = None, tag: str | None = None,
    name: str | None = None, sort: str = "created", order: str = "desc",
    page: int = Query(1, ge=1, le=MAX_PAGE), per: int = Query(50, ge=1, le=1000),
    after: str | None = None, before: str | None = None,
    lab: Lab = Depends(lab_of),
) -> dict[str, Any]:
    """A page of runs: ``page`` counts from the start; ``after`` / ``before`` (the ``next``
    and ``previous`` cursors of a page) go one page on or back without re-reading the rows
    before it. ``total_exact`` is false when ``total`` is an estimate (a name or tag filter
    on a large lab)."""
    if order not in ("asc", "desc"):
        raise UsageError(f"order is 'asc' or 'desc', not {order!r}")
    found = Listing(lab.db).page(
        status=status or None, project=project or None, tag=tag or None, name=name or None,
        sort=sort, descending=order == "desc", limit=per, after=after, before=before,
        offset=0 if (after or before) else (page - 1) * per,
    )
    return {"total": found.total, "total_exact": found.exact, "page": page, "per": per,
            "next": found.next, "previous": found.previous,
            "runs": [jsonable(run_row(r)) for r in found.runs]}


@router.get("/status")
def status_of_runs(
    run: list[str] = Query(..., description="run ids, names or id prefixes"),
    lab: Lab = Depends(lab_of),
) -> dict[str, Any]:
    """What a table refreshes for its running rows: status (a dead run is crashed, by the
    CLI's rule), last step, duration, and the reason a run stopped."""
    if len(run) > MAX_STATUS:
        raise UsageError(f"ask for at most {MAX_STATUS} runs at once, not {len(run)}")
    out = []
    for ref in dict.fromkeys(run):
        record = lab.runs.get(ref)
        out.append(jsonable({"id": record.id, "status": record.status,
                             "last_step": record.last_step, "duration": record.duration,
                             "duration_text": duration(record.duration),
                             "reason": record.reason}))
    return {"runs": out}


@router.get("/runs/{ref}")
def run(ref: str, lab: Lab = Depends(lab_of)) -> dict[str, Any]:
    record = lab.runs.get(ref)
    out: dict[str, Any] = jsonable(record.to_dict())
    out["metric_keys"] = lab.metrics.keys(record.id)
    return out


@router.get("/runs/{ref}/series")
def series(
    ref: str,
    key: list[str] | None = Query(None),
    since: int | None = Query(None, ge=-STEP_LIMIT, le=STEP_LIMIT),
    points: int = Query(DEFAULT_POINTS, ge=4, le=MAX_POINTS),
    lab: Lab = Depends(lab_of),
) -> dict[str, Any]:
    """The run's series (or ``key``s), downsampled to ``points``; ``since``: only later steps.
    Without ``key``, the training metrics: system metrics (``system/*``) only when named."""
    record = lab.runs.get(ref)
    if key is None:
        key = split_keys(lab.metrics.keys(record.id))[0]
    return {
        "run": record.id, "status": record.status, "last_step": record.last_step,
        "series": run_series(lab, record.id, key, since, points),
    }


@router.get("/compare/series")
def compare_series(
    run: list[str] = Query(..., description="run ids, names or id prefixes"),
    key: str = Query(..., min_length=1),
    points: int = Query(DEFAULT_POINTS, ge=4, le=MAX_POINTS),
    group: str = Query(GROUP_SEED, description="'seed' (runs that differ only in seed), "
                       "'none', or a config key"),
    lab: Lab = Depends(lab_of),
) -> dict[str, Any]:
    """One metric of several runs, each downsampled to a min/max envelope of ``points``, and
    the runs grouped (``group``): each group of two or more drawn as its mean with a band."""
    if len(run) > MAX_COMPARE:
        raise UsageError(f"compare at most {MAX_COMPARE} runs at once, not {len(run)}")
    out = []
    records = {}
    for ref in run:
        record = lab.runs.get(ref)
        records[record.id] = record
        found = run_series(lab, record.id, [key], None, points).get(key)
        out.append({"run": record.id, "name": record.name, "status": record.status,
                    **(found or {"x": [], "y": [], "n": 0, "dropped": 0})})
    return {"key": key, "series": out,
            "groups": jsonable(seed_bands(records, out, group, points))}


def seed_bands(records: dict[str, Any], series: list[dict[str, Any]], group: str,
               points: int) -> list[dict[str, Any]]:
    """The groups of two or more runs (see :func:`stepstone.analysis.curves.group_runs`),
    each with the mean, min–max and ±σ band of its runs' curves."""
    if group == GROUP_NONE:
        return []
    configs = {rid: flatten(r.config, strict=False) for rid, r in records.items()}
    if group != GROUP_SEED and not any(group in c for c in configs.values()):
        raise UsageError(f"no run here has the config key {group!r}: group by "
                         f"'{GROUP_SEED}', '{GROUP_NONE}' or a key of the runs' configs")
    by_run = {s["run"]: s for s in series}
    out = []
    for found in group_runs(configs, None if group == GROUP_SEED else group):
        if len(found["runs"]) < 2:
            continue
        curves = [(by_run[rid]["x"], by_run[rid]["y"]) for rid in found["runs"]]
        out.append({**found, **band(curves, points)})
    return out


@router.get("/runs/{ref}/code")
def code_file(ref: str, path: str = Query(..., min_length=1),
              lab: Lab = Depends(lab_of)) -> dict[str, Any]:
    """A file of the run's code snapshot: only a manifest entry, never a path on disk."""
    record = lab.runs.get(ref)
    if not record.code_snapshot:
        raise NotFoundError(f"run {record.id} has no code snapshot")
    data = lab.snapshot_file(record.code_snapshot, path)
    text = decode_text(data)
    return {"run": record.id, "path": path, "size": len(data), "binary": text is None,
            "text": text}


def decode_text(data: bytes) -> str | None:
    """The file as text (cut at ``MAX_FILE_BYTES``), None for a binary file."""
    head = data[:MAX_FILE_BYTES]
    if b"\x00" in head[:8192]:
        return None
    return head.decode("utf-8", errors="replace")


@router.get("/{rest:path}", include_in_schema=False)
def unknown(rest: str) -> None:
    raise NotFoundError(f"no API endpoint /api/{rest}")
