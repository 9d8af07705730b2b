"""Tables and options shared by the analysis commands (``fit``, ``gain``, ``compare``,
``stratify``, ``pareto``, ``precision``).

Tables are Markdown by default (paste into a paper or a PR), LaTeX (booktabs) with
``--table latex``; each command's ``--json`` prints its results as plain JSON instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from stepstone.cli.common import echo
from stepstone.display import fmt

F = TypeVar("F", bound=Callable[..., Any])
TABLE_STYLES = ("markdown", "latex")

_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "∞": r"$\infty$", "–": "--", "≥": r"$\geq$",
                  "≤": r"$\leq$", "±": r"$\pm$"}


def _latex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def render_table(rows: Sequence[Sequence[Any]], columns: Sequence[str], style: str,
                 title: str = "") -> str:
    """Rows as a Markdown table (numbers right-aligned) or a LaTeX booktabs tabular."""
    cells = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    numeric = [all(_numberlike(r[i]) for r in cells) and bool(cells) for i in range(len(columns))]
    if style == "latex":
        spec = "".join("r" if n else "l" for n in numeric)
        lines = []
        if title:
            lines.append(f"% {title}")
        lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
                  " & ".join(_latex(c) for c in columns) + r" \\", r"\midrule"]
        lines += [" & ".join(_latex(c) for c in row) + r" \\" for row in cells]
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines)
    lines = [f"**{title}**", ""] if title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines)


def _numberlike(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "–"
    return True


def echo_table(rows: Sequence[Sequence[Any]], columns: Sequence[str], style: str,
               title: str = "") -> None:
    """Print :func:`render_table` and a blank line."""
    echo(render_table(rows, columns, style, title))
    echo()


def table_option(func: F) -> F:
    """``--table markdown|latex`` (alias ``--format``)."""
    return click.option("--table", "--format", "style", type=click.Choice(TABLE_STYLES),
                        default="markdown", show_default=True,
                        help="Table style: Markdown, or LaTeX (booktabs) for a paper.")(func)


def selection_options(func: F) -> F:
    """``--question/--baseline/--tag/--project/--run``: which runs to read (all must hold)."""
    for opt in reversed((
        click.option("--question", help="Runs of this question."),
        click.option("--baseline", help="Runs of this baseline."),
        click.option("--tag", help="Runs with this tag."),
        click.option("--project", help="Runs of this project."),
        click.option("--run", "run_refs", multiple=True, metavar="ID",
                     help="This run (repeatable)."),
    )):
        func = opt(func)
    return func


def direction_option(func: F) -> F:
    """``--higher-is-better/--lower-is-better`` for ``--metric`` (None: from its name)."""
    return click.option("--higher-is-better/--lower-is-better", "higher", default=None,
                        help="Direction of --metric (default: lower for losses, errors, "
                             "perplexities, latencies and times).")(func)


def higher_is_better(metric: str, flag: bool | None) -> bool:
    """``flag`` when given, else the project's rule on metric names
    (:func:`stepstone.method.baselines.lower_is_better`)."""
    if flag is not None:
        return flag
    from stepstone.method.baselines import lower_is_better

    return not lower_is_better(metric)
