"""``stepstone pareto``: quality against cost over a lab's runs, under hard constraints, with
MFU from each run's FLOPs and training time when the device's peak is given.

Lab reading lives in :mod:`stepstone.method.selection`; the numbers come from
:mod:`stepstone.analysis`; tables from :mod:`stepstone.cli.analysis_common`.
"""

from __future__ import annotations

import math
from typing import Any

import click

from stepstone.cli.analysis_common import echo_table, selection_options, table_option
from stepstone.cli.common import echo, json_option, lab_option, print_json
from stepstone.errors import UsageError

MFU = "mfu"
"""The column, axis and constraint name of the MFU computed with ``--peak-flops``."""


@click.command("pareto")
@selection_options
@click.option("--quality", required=True,
              help="Summary key of quality, maximised, e.g. eval/accuracy; 'mfu' with "
                   "--peak-flops ranks by MFU.")
@click.option("--cost", "costs", multiple=True, required=True,
              help="Summary key of a cost, minimised (repeatable), e.g. latency_ms.")
@click.option("--minimize-quality", is_flag=True, help="Lower quality is better (a loss).")
@click.option("--constraint", "constraints", multiple=True, metavar="RULE",
              help="Hard constraint 'metric op number' (repeatable), e.g. 'latency_ms <= 100' "
                   "or, with --peak-flops, 'mfu >= 0.4'.")
@click.option("--peak-flops", type=float, metavar="FLOP/S",
              help="Peak FLOP/s of one device at the precision trained in (dense), e.g. "
                   "989e12 for an H100 SXM in bf16: adds each run's MFU (summary flops / "
                   "training time / (peak × devices)) as the column 'mfu'.")
@click.option("--devices", type=int, default=None,
              help="Devices each run trained on, for MFU (default 1).")
@click.option("--time-key", default=None, metavar="KEY",
              help="Summary key of the training time in seconds, for MFU "
                   "(default train/time_s).")
@table_option
@lab_option
@json_option
def pareto_cmd(question: str | None, baseline: str | None, tag: str | None,
               project: str | None, run_refs: tuple[str, ...], quality: str,
               costs: tuple[str, ...], minimize_quality: bool, constraints: tuple[str, ...],
               peak_flops: float | None, devices: int | None, time_key: str | None,
               style: str, lab: str | None, as_json: bool) -> None:
    """Quality against cost: the Pareto frontier of finished runs (from their summaries).

    Runs breaking a constraint or lacking a metric are disqualified, with the reason. With
    --peak-flops each run's MFU (model FLOPs utilisation) is computed from the `flops` and
    the training time (--time-key) in its summary and shown as the column `mfu`; rank by it
    with --quality mfu, or require it with --constraint 'mfu >= 0.4'.

    \b
    Example:
      stepstone pareto --project distill --quality eval/accuracy --cost latency_ms
      stepstone pareto --tag quant --quality eval/accuracy --cost latency_ms \\
        --constraint "latency_ms <= 100" --json
      stepstone pareto --project ladder --quality eval/accuracy --cost flops \\
        --peak-flops 989e12 --devices 8 --constraint "mfu >= 0.35"
    """
    from stepstone.analysis import pareto_front, parse_constraint
    from stepstone.method import selection as aio
    from stepstone.store.lab import open_lab

    mentions_mfu = quality == MFU or any(parse_constraint(c).metric == MFU for c in constraints)
    _check_mfu_options(costs, peak_flops, devices, time_key)
    with open_lab(lab) as opened:
        sel = aio.select_runs(opened, question=question, baseline=baseline, tag=tag,
                              project=project, run_ids=run_refs)
    rows = aio.summary_rows(sel.runs)
    mfus: dict[str, Any] = {}
    why_not: dict[str, str] = {}
    if peak_flops is not None:
        for run, row in zip(sel.runs, rows, strict=True):
            result, why = aio.run_mfu(run, peak_flops, n_devices=devices or 1,
                                      time_key=time_key or aio.TIME_KEY)
            mfus[run.id] = result
            row.pop(MFU, None)  # the computed MFU replaces one the run logged
            if result is None:
                why_not[run.id] = why
            else:
                row[MFU] = result.mfu
    elif mentions_mfu and not any(MFU in r.summary for r in sel.runs):
        raise UsageError("no run logged 'mfu': give the device's peak with --peak-flops "
                         "(e.g. 989e12 for an H100 SXM in bf16) to compute it")
    res = pareto_front(rows, quality=quality, cost=list(costs),
                       maximize=not minimize_quality, constraints=list(constraints))
    if as_json:
        payload: dict[str, Any] = {"skipped": [{"run": r, "reason": w} for r, w in sel.skipped],
                                   "pareto": res.to_dict()}
        if peak_flops is not None:
            payload["mfu"] = {"peak_flops_per_device": peak_flops, "devices": devices or 1,
                              "time_key": time_key or aio.TIME_KEY,
                              "runs": {rid: (m.to_dict() if m is not None
                                             else {"mfu": None, "reason": why_not[rid]})
                                       for rid, m in mfus.items()}}
        print_json(payload)
        return
    names = {r.id: r.name for r in sel.runs}
    mfu_column = peak_flops is not None and quality != MFU
    table: list[list[Any]] = []
    for p in res.ranked:
        cells: list[Any] = [p.rank, p.id[:10], names.get(p.id, ""), p.quality,
                            *[p.costs.get(c) for c in costs]]
        if mfu_column:
            m = mfus.get(p.id)
            cells.append("–" if m is None else f"{m.mfu:.1%}" + (" (!)" if m.warning else ""))
        table.append([*cells, "yes" if p.on_front else "", (p.dominated_by or "")[:10]])
    echo_table(table, ["rank", "run", "name", quality, *costs, *(["MFU"] if mfu_column else []),
                       "on front", "dominated by"],
               style, f"{len(res.front)} of {len(res.ranked)} qualified runs on the frontier")
    if peak_flops is not None:
        echo(f"MFU: summary flops / {time_key or aio.TIME_KEY} / ({peak_flops:.4g} "
                   f"FLOP/s × {devices or 1} device(s))")
        for rid, m in mfus.items():
            if m is not None and m.warning:
                echo(f"! run {rid[:10]} ({names.get(rid, '')}): {m.warning}")
    for d in res.disqualified:
        reasons = [f"{r} ({why_not[d.id]})" if d.id in why_not and r.split(" to check ")[0]
                   == f"no {MFU}" else r for r in d.reasons]
        echo(f"- disqualified {d.id[:10]} ({names.get(d.id, '')}): {'; '.join(reasons)}")
    if sel.skipped:
        echo(sel.skipped_line())


def _check_mfu_options(costs: tuple[str, ...], peak_flops: float | None, devices: int | None,
                       time_key: str | None) -> None:
    """Refuse MFU options that cannot mean anything, before the lab is read."""
    if MFU in costs:
        raise UsageError("MFU is better higher, not a cost: rank by it with --quality mfu or "
                         "require it with --constraint 'mfu >= 0.4'")
    if peak_flops is None:
        if devices is not None or time_key is not None:
            raise UsageError("--devices and --time-key are for MFU: give the device's peak "
                             "with --peak-flops (e.g. 989e12)")
        return
    if not (math.isfinite(peak_flops) and peak_flops > 0):
        raise UsageError(f"--peak-flops must be a positive FLOP/s of one device, e.g. 989e12; "
                         f"got {peak_flops:g}")
    if devices is not None and devices < 1:
        raise UsageError(f"--devices must be 1 or more; got {devices}")
