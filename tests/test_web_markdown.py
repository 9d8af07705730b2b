"""Notebook pages as a safe subset of Markdown (stepstone.web.markdown)."""

from __future__ import annotations

from stepstone.web.markdown import render


def test_markdown_is_rendered_after_escaping() -> None:
    html = str(render("Run **finished** with *care*.\n- eval/loss = 0.7\n- `a<b`\n\n"
                      "Evidence: page 10, see #3\n\n## Next\n\n<img src=x onerror=alert(1)>"))
    assert "<p>Run <strong>finished</strong> with <em>care</em>.</p>" in html
    assert "<ul><li>eval/loss = 0.7</li><li><code>a&lt;b</code></li></ul>" in html
    assert '<a href="#page-10">page 10</a>' in html and '<a href="#page-3">#3</a>' in html
    assert "<h4>Next</h4>" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_markdown_leaves_entities_and_stray_marks_alone() -> None:
    html = str(render("it's 2 * 3 ** 4 & more"))
    assert html == "<p>it&#39;s 2 * 3 ** 4 &amp; more</p>"
    assert str(render(None)) == "" and str(render("  \n")) == ""
