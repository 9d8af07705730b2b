"""A report's caveats read as a list a person can take in: weak buckets of a stratified
evaluation grouped into one line per kind, and a note's title not repeated in its body."""

from __future__ import annotations

from pathlib import Path

from _cli import cli
from stepstone.report.caveats import _bucket_caveats
from stepstone.report.model import BucketRow, StratArm
from stepstone.store import open_lab


def _row(bucket: str, count: int, thin: bool) -> BucketRow:
    return BucketRow("file", bucket, count, 1.0, None, None, None, None, thin, False)


def test_thin_buckets_are_one_caveat_naming_the_first_few() -> None:
    rows = (*(_row(f"f{i}.py", 2, True) for i in range(24)), _row("big.py", 90, False))
    findings = ("file=gone.py: no examples (empty bucket)", "3 record(s) have no 'file'")
    arm = StratArm("feature", "r1", "run", "eval", "score", True, 150, ("file",), rows,
                   _row("(all)", 150, False), findings, 5)
    caveats = _bucket_caveats(arm)
    assert len(caveats) == 3
    assert caveats[0].startswith("stratified evaluation of the feature run r1: 24 thin "
                                 "bucket(s), under 5 examples each: file=f0.py (2), ")
    assert "and 18 more" in caveats[0] and "big.py" not in caveats[0]
    assert caveats[1].endswith("1 empty bucket(s): file=gone.py")
    assert caveats[2].endswith("3 record(s) have no 'file'")


def test_a_note_page_does_not_repeat_its_title(lab: Path) -> None:
    assert cli(lab, "note", "Tried k=4 by hand\nIt diverged at step 30.")[0] == 0
    assert cli(lab, "note", "one line")[0] == 0
    with open_lab(lab) as opened:
        first, second = opened.notebook.get(1), opened.notebook.get(2)
    assert (first.title, first.body) == ("Tried k=4 by hand", "It diverged at step 30.")
    assert (second.title, second.body) == ("one line", "")
