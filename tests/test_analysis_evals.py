"""Averaged evals next to individual numbers; val loss improving while an eval worsens."""

from __future__ import annotations

import json
import math

import pytest

from stepstone.analysis import average_evals, checkpoint_divergences, loss_eval_divergence
from stepstone.errors import AnalysisError


def test_average_evals_per_seed_average() -> None:
    table = average_evals({"arc": [0.5, 0.6, 0.7], "hellaswag": [0.3, 0.4, 0.5]})
    assert [r.name for r in table.rows] == ["arc", "hellaswag"]
    assert table.rows[0].mean == pytest.approx(0.6)
    assert table.average.mean == pytest.approx(0.5)
    assert table.average.values == pytest.approx((0.4, 0.5, 0.6))
    assert table.average.ci_low < 0.5 < table.average.ci_high
    assert "per seed" in table.note
    md = table.markdown()
    assert "| average |" in md and "| arc |" in md


def test_average_evals_single_numbers_and_mixed_seeds() -> None:
    single = average_evals({"a": 0.2, "b": 0.4})
    assert single.average.mean == pytest.approx(0.3) and math.isnan(single.average.ci_low)
    mixed = average_evals({"a": [0.2, 0.3], "b": 0.4})
    assert mixed.average.mean == pytest.approx(0.325) and "do not share seeds" in mixed.note
    json.dumps(mixed.to_dict(), allow_nan=False)
    with pytest.raises(AnalysisError, match="No evals"):
        average_evals({})


def test_divergence_detected_between_two_runs() -> None:
    before = {"val_loss": 2.40, "mmlu": 0.45, "gsm8k": 0.20}
    after = {"val_loss": 2.35, "mmlu": 0.47, "gsm8k": 0.15}
    div = loss_eval_divergence(before, after)
    assert div.loss_improved and div.detected
    assert div.worsened == ("gsm8k",)
    assert "WORSE" in div.table and "gsm8k" in div.table
    assert div.changes[1].change == pytest.approx(-0.05)


def test_divergence_respects_seed_noise_and_direction() -> None:
    before = {"val_loss": [2.40, 2.41], "acc": [0.50, 0.60], "ppl_eval": [10.0, 10.2]}
    after = {"val_loss": [2.35, 2.36], "acc": [0.49, 0.58], "ppl_eval": [11.0, 11.1]}
    div = loss_eval_divergence(before, after, higher_is_better={"ppl_eval": False})
    names = {c.name: c for c in div.changes}
    assert not names["acc"].worse  # within seed noise
    assert names["ppl_eval"].worse  # perplexity up is worse
    assert div.detected and div.worsened == ("ppl_eval",)


def test_no_divergence_when_loss_worsens_or_change_is_small() -> None:
    assert not loss_eval_divergence(
        {"val_loss": 2.0, "acc": 0.5}, {"val_loss": 2.1, "acc": 0.4}
    ).detected
    assert not loss_eval_divergence(
        {"val_loss": 2.0, "acc": 0.5}, {"val_loss": 1.9, "acc": 0.499}, min_delta=0.005
    ).detected


def test_checkpoint_divergences_finds_the_pair() -> None:
    ckpts = [
        {"step": 1000, "val_loss": 2.6, "acc": 0.40},
        {"step": 2000, "val_loss": 2.5, "acc": 0.45},
        {"step": 3000, "val_loss": 2.4, "acc": 0.42},
        {"step": 4000, "val_loss": 2.3, "acc": 0.47},
    ]
    found = checkpoint_divergences(ckpts)
    assert len(found) == 1
    assert (found[0].before_label, found[0].after_label) == ("step 2000", "step 3000")


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        pytest.param({"acc": 0.5}, {"val_loss": 1.0, "acc": 0.4}, "val_loss", id="no-loss"),
        pytest.param({"val_loss": 1.0}, {"val_loss": 0.9}, "share no eval", id="no-eval"),
    ],
)
def test_divergence_refusals(
    before: dict[str, float], after: dict[str, float], message: str
) -> None:
    with pytest.raises(AnalysisError, match=message):
        loss_eval_divergence(before, after)
    with pytest.raises(AnalysisError, match="2 checkpoints"):
        checkpoint_divergences([{"val_loss": 1.0}])
