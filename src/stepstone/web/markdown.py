"""A small, safe subset of Markdown for notebook pages: the text is escaped first, so no HTML
a person or an agent wrote ever reaches the page; then paragraphs, line breaks, ``- `` lists,
``#`` headings, ``**bold**``, ``*italic*`` and ```code``` are rendered, and "page N" (or "#N")
becomes a link to that notebook page."""

from __future__ import annotations

import re
from itertools import groupby

from markupsafe import Markup, escape

_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_PAGE = re.compile(r"\b([Pp]ages?) (\d+)\b|(?<![\w&#])#(\d+)\b")
_HEADING = re.compile(r"^(#{1,4}) +(.+)$")


def _page_link(match: re.Match[str]) -> str:
    if match.group(3):
        return f'<a href="#page-{match.group(3)}">#{match.group(3)}</a>'
    return f'<a href="#page-{match.group(2)}">{match.group(1)} {match.group(2)}</a>'


def _inline(text: str) -> str:
    """One escaped line with the inline marks rendered (code spans left as written)."""
    parts = _CODE.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
            continue
        part = _BOLD.sub(r"<strong>\1</strong>", part)
        part = _ITALIC.sub(r"<em>\1</em>", part)
        out.append(_PAGE.sub(_page_link, part))
    return "".join(out)


def _is_item(line: str) -> bool:
    return line.lstrip().startswith(("- ", "* "))


def render(text: str | None) -> Markup:
    """``text`` as safe HTML (see the module's doc for the subset)."""
    blocks: list[str] = []
    if not (text or "").strip():
        return Markup("")
    for block in re.split(r"\n\s*\n", str(escape(text or "")).strip()):
        lines = block.split("\n")
        heading = _HEADING.match(lines[0]) if len(lines) == 1 else None
        if heading:
            level = len(heading.group(1)) + 2  # the page's own title is above
            blocks.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            continue
        for item, run in groupby(lines, key=_is_item):  # a list may follow a line directly
            rows = list(run)
            if item:
                blocks.append("<ul>" + "".join(f"<li>{_inline(r.lstrip()[2:])}</li>"
                                               for r in rows) + "</ul>")
            else:
                blocks.append("<p>" + "<br>".join(_inline(r) for r in rows) + "</p>")
    return Markup("".join(blocks))
