"""Reports: a question's write-up as Markdown and one self-contained HTML file with figures.

    >>> from stepstone.report import build_report, write_report
    >>> report = build_report(lab, "q1", n_bootstrap=200)
    >>> paths = write_report(report, "reports/q1")   # report.md, report.html, figures/*.png

:func:`build_report` gathers pure data (a frozen :class:`Report`); :func:`render_markdown`
and :func:`render_html` turn it into text; :func:`make_figures` draws the figures with
matplotlib (imported only then). See docs/reports.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stepstone.report.build import Report, build_report
from stepstone.report.figures import FigureOut, make_figures
from stepstone.report.render import SECTIONS, document, render_html, render_markdown


@dataclass(frozen=True)
class ReportPaths:
    """Where :func:`write_report` put the report."""

    folder: Path
    markdown: Path
    html: Path
    figures: tuple[Path, ...]

    def to_dict(self) -> dict[str, object]:
        return {"folder": str(self.folder), "markdown": str(self.markdown),
                "html": str(self.html), "figures": [str(p) for p in self.figures]}


def write_report(report: Report, folder: str | Path) -> ReportPaths:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    figures = make_figures(report)
    figures_dir = out / "figures"
    markdown = out / "report.md"
    markdown.write_text(render_markdown(report, figures_dir, figures=figures), encoding="utf-8")
    page = out / "report.html"
    page.write_text(render_html(report, figures=figures), encoding="utf-8")
    for fig in figures:  # a figure that cannot be drawn now must not linger from before
        if fig.png is None:
            (figures_dir / fig.filename).unlink(missing_ok=True)
    written = tuple(figures_dir / f.filename for f in figures if f.png is not None)
    return ReportPaths(out, markdown, page, written)


__all__ = [
    "SECTIONS",
    "FigureOut",
    "Report",
    "ReportPaths",
    "build_report",
    "document",
    "make_figures",
    "render_html",
    "render_markdown",
    "write_report",
]
