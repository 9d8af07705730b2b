"""The report's figures, drawn with matplotlib's Agg canvas (no pyplot, no global state).

Each figure is a PNG, or the sentence that says why it could not be drawn: no fit, fewer
than two rungs with a gain, no evaluation records, or matplotlib missing. Nothing here
raises for want of data.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepstone.report.build import Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FIGURES = ("fit", "gain", "stratified")
DPI = 110
BASE_COLOR, FEATURE_COLOR, BAND_COLOR = "#1f4e79", "#c0392b", "#9dbbd9"


@dataclass(frozen=True)
class FigureOut:
    """One figure: its PNG bytes, or the reason it was not drawn."""

    name: str
    title: str
    png: bytes | None
    reason: str | None = None

    @property
    def filename(self) -> str:
        return f"{self.name}.png"


def make_figures(report: Report) -> tuple[FigureOut, ...]:
    """The fit, gain and stratified figures of a report (each a PNG or a reason)."""
    makers: dict[str, tuple[str, Callable[[Report], str | None],
                            Callable[[Report, Any], None]]] = {
        "fit": ("Baseline scaling law and the feature's rungs", _fit_missing, _draw_fit),
        "gain": ("Compute-efficiency gain per rung", _gain_missing, _draw_gain),
        "stratified": ("Stratified evaluation per bucket", _strat_missing, _draw_strat),
    }
    out = []
    for name in FIGURES:
        title, missing, draw = makers[name]
        reason = missing(report)
        if reason is not None:
            out.append(FigureOut(name, title, None, reason))
            continue
        try:
            png = _render(lambda fig, r=report, d=draw: d(r, fig))  # type: ignore[misc]
        except ImportError:
            out.append(FigureOut(name, title, None, "matplotlib is not installed, so no figure "
                                 "was drawn: pip install 'stepstone[analysis]'"))
            continue
        except Exception as exc:  # a figure must never break the report
            out.append(FigureOut(name, title, None,
                                 f"the figure could not be drawn ({type(exc).__name__}: {exc})"))
            continue
        out.append(FigureOut(name, title, png))
    return tuple(out)


def _render(draw: Callable[[Figure], None]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.2), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig)
    buf = io.BytesIO()
    # no metadata: the PNG carries no software name or URL
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


# -- scaling fit -------------------------------------------------------------------------------
def _fit_missing(report: Report) -> str | None:
    if not report.fit.available:
        why = (report.fit.reason or "no reason given").rstrip(". ")
        return f"No scaling-law figure: the baseline has no fitted law ({why})."
    if not report.fit.curve_compute:
        return "No scaling-law figure: the law gives no curve to draw."
    return None


def _draw_fit(report: Report, fig: Figure) -> None:
    fit = report.fit
    ax = fig.add_subplot()
    x = list(fit.curve_compute)
    if fit.band_low and fit.band_high:
        ax.fill_between(x, fit.band_low, fit.band_high, color=BAND_COLOR, alpha=0.5, lw=0,
                        label=f"{fit.confidence:.0%} bootstrap band")
    ax.plot(x, fit.curve_loss, color=BASE_COLOR, lw=1.6, label=f"baseline law: {fit.formula}")
    ax.scatter(fit.points_compute, fit.points_loss, color=BASE_COLOR, s=28, zorder=3,
               label=f"baseline runs ({fit.n_points})")
    rows = [row.rung for row in report.gain.rows]
    if rows:
        ax.scatter([r.compute for r in rows], [r.loss for r in rows], color=FEATURE_COLOR,
                   marker="D", s=34, zorder=4, label=f"{report.question.id} rungs ({len(rows)})")
    if fit.compute_range is not None:
        for edge in fit.compute_range:
            ax.axvline(edge, color="#888888", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel(fit.metric)
    ax.set_title(_short(f"{fit.form} law fitted to {fit.n_points} runs ({fit.source}); "
                        "dotted: fitted range"), fontsize=9)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="best")


# -- gain --------------------------------------------------------------------------------------
def _gain_missing(report: Report) -> str | None:
    gain = report.gain
    if not gain.available:
        return f"No gain figure: {(gain.reason or 'no reason given').rstrip('. ')}."
    defined = [r for r in (row.rung for row in gain.rows) if r.defined and r.gain is not None]
    if len(defined) < 2:
        return (f"No gain figure: {len(defined)} rung(s) with a defined gain; a trend needs "
                "at least 2.")
    return None


def _draw_gain(report: Report, fig: Figure) -> None:
    gain = report.gain
    rows = [r for r in (row.rung for row in gain.rows) if r.defined and r.gain is not None]
    ax = fig.add_subplot()
    xs = [r.compute for r in rows]
    ys = [float(r.gain or 0.0) for r in rows]
    finite_high = [r.ci_high for r in rows if r.ci_high is not None]
    top = max([*ys, *finite_high]) * 1.25
    lows = [y - (r.ci_low if r.ci_low is not None else y) for r, y in zip(rows, ys, strict=True)]
    highs = [(r.ci_high if r.ci_high is not None else top) - y
             for r, y in zip(rows, ys, strict=True)]
    ax.errorbar(xs, ys, yerr=[lows, highs], fmt="o", color=FEATURE_COLOR, capsize=4,
                label=f"gain with {gain.confidence:.0%} interval")
    for r, y in zip(rows, ys, strict=True):
        if r.ci_high is None:
            ax.annotate("unbounded", (r.compute, top), fontsize=7, ha="center", va="bottom")
        ax.annotate(_short(r.label, 14), (r.compute, y), textcoords="offset points",
                    xytext=(6, 4), fontsize=7)
    ax.axhline(1.0, color="#555555", lw=1.0, ls="--", label="no gain (1.0)")
    threshold = _threshold(report.question.rule)
    if threshold is not None and threshold != 1.0:
        ax.axhline(threshold, color=BASE_COLOR, lw=1.0, ls=":", label=f"rule: {threshold:g}")
    ax.set_xscale("log")
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel("gain (baseline compute / feature compute)")
    slope = gain.slope_per_decade
    slope_text = "" if slope is None else f", slope {slope:+.3f} ln(gain)/decade"
    ax.set_title(f"trend: {gain.verdict.upper()}{slope_text}", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="best")


def _threshold(rule: str) -> float | None:
    """The number in a rule of the form ``gain >= X ...`` (for a reference line)."""
    import re

    match = re.search(r"\bgain\s*(?:>=|>)\s*([0-9.]+(?:[eE][-+]?\d+)?)", rule)
    if not match:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


# -- stratified --------------------------------------------------------------------------------
def _strat_missing(report: Report) -> str | None:
    strat = report.stratified
    if not strat.available:
        return f"No stratified figure: {(strat.reason or 'no reason given').rstrip('. ')}."
    return None


def _draw_strat(report: Report, fig: Figure) -> None:
    arms = report.stratified.arms
    fields = list(dict.fromkeys(f for arm in arms for f in arm.fields))[:3]
    axes: Sequence[Axes] = fig.subplots(1, len(fields), squeeze=False)[0]
    width = 0.8 / max(1, len(arms))
    colors = {"baseline": BASE_COLOR, "feature": FEATURE_COLOR}
    for ax, fld in zip(axes, fields, strict=False):
        buckets = list(dict.fromkeys(r.bucket for arm in arms for r in arm.rows
                                     if r.field == fld))
        for i, arm in enumerate(arms):
            rows = {r.bucket: r for r in arm.rows if r.field == fld}
            xs, means, err_lo, err_hi, hatches, worst_x, worst_y = [], [], [], [], [], [], []
            for j, bucket in enumerate(buckets):
                row = rows.get(bucket)
                if row is None:
                    continue
                x = j + (i - (len(arms) - 1) / 2) * width
                xs.append(x)
                means.append(row.mean)
                err_lo.append(row.mean - row.ci_low if row.ci_low is not None else 0.0)
                err_hi.append(row.ci_high - row.mean if row.ci_high is not None else 0.0)
                hatches.append("//" if row.thin else "")
                if row.worst is not None and math.isfinite(row.worst):
                    worst_x.append(x)
                    worst_y.append(row.worst)
            bars = ax.bar(xs, means, width=width * 0.95, color=colors.get(arm.arm, "#777777"),
                          alpha=0.8, yerr=[err_lo, err_hi], capsize=3,
                          label=f"{arm.arm} ({_short(arm.run_name, 16)})")
            for bar, hatch in zip(bars, hatches, strict=True):
                if hatch:
                    bar.set_hatch(hatch)
                    bar.set_edgecolor("white")
            if worst_x:
                ax.scatter(worst_x, worst_y, marker="v", color="black", s=22, zorder=4,
                           label="worst case (5th pct)" if i == 0 else None)
        ax.set_xticks(range(len(buckets)))
        ax.set_xticklabels([_short(b, 12) for b in buckets], rotation=30, ha="right",
                           fontsize=8)
        ax.set_title(f"by {_short(fld, 20)} (hatched: thin)", fontsize=9)
        ax.set_ylabel(arms[0].metric if arms else "score")
        ax.grid(True, axis="y", alpha=0.25)
    axes[0].legend(fontsize=7, loc="best")


def _short(text: str, limit: int = 90) -> str:
    """User text for a label: cut to ``limit`` and with ``$`` escaped (no mathtext)."""
    text = str(text)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")
