"""A memory of what failed: adding an idea or a question recalls the earlier ones like it
(full-text search in the store, on SQLite and PostgreSQL), with what became of them; `idea
list --dead` lists the dead ends with their reasons."""

from __future__ import annotations

import json

import pytest

from _cli import cli
from stepstone.method import ideas, memory, questions
from stepstone.store import open_lab
from stepstone.store.recall import words

# a few dozen ideas of a lab that has been at it for a while
TITLES = [
    "QK-norm on attention logits", "Sliding window attention with window 8",
    "Linear attention with elu feature map", "Delta rule recurrence for recall",
    "Rotary position embeddings everywhere", "Learned absolute positions",
    "No position information at all", "ProRes progressive residual warmup",
    "LayerNorm scaling by inverse square root of depth", "k-shot loss with k=4",
    "Cosine decay to ten percent", "Warmup of 500 steps", "AdamW beta2 0.95",
    "Gradient clipping at 0.5", "Weight decay 0.1 on embeddings",
    "Tied input and output embeddings",
    "MLP ratio 2 instead of 4", "No MLP layers", "Deeper and narrower model",
    "Wider and shallower model", "bf16 autocast", "fp16 without a gradient scaler",
    "Byte-level tokenizer on stdlib sources", "Longer context of 512 bytes",
    "Curriculum from short to long sequences", "Dropout 0.1 in attention",
    "Label smoothing 0.1", "Z-loss on the logits", "Mixture of experts with 4 experts",
    "Grouped-query attention with 2 kv heads", "Multi-query attention", "SwiGLU activations",
    "Squared ReLU activations", "Batch size warmup", "Lion optimizer instead of AdamW",
    "Muon optimizer on hidden matrices",
]


def _fill(opened) -> None:
    for title in TITLES:
        ideas.add(opened, title, cost="2h")
    qk = "i1"
    q = questions.create(opened, "Does QK-norm lower the loss at every width?",
                         rule="val_loss <= baseline - 0.01", idea=qk)
    ideas.move(opened, "i6", "dropped", "learned positions overfit the training lengths")
    opened.questions.update(q.question.id, status="answered", answer="no",
                            conclusion="QK-norm changed nothing measurable at 3 widths")
    ideas.follow(opened, qk, "tested", f"question {q.question.id} answered no")
    ideas.move(opened, qk, "dropped", "no gain at any rung (q1)")


def test_stop_words_and_punctuation_do_not_count():
    assert words("Does QK-norm help? Does it?") == ["qk", "norm"]
    assert words("the of and") == []


def test_a_new_idea_recalls_the_dead_end_it_repeats_among_dozens(store_target):
    with open_lab(store_target.root) as opened:
        _fill(opened)
        again = ideas.add(opened, "Normalize queries and keys (QK norm)")
    recalled = again.similar
    assert recalled, "nothing recalled"
    first = {(r.kind, r.id) for r in recalled[:2]}
    assert first == {("idea", "i1"), ("question", "q1")}, recalled
    idea = next(r for r in recalled if r.id == "i1")
    assert idea.verdict == "dropped" and idea.reason == "no gain at any rung (q1)"
    assert idea.tested_by == ("q1 no: QK-norm changed nothing measurable at 3 widths",)
    assert all(r.id != again.idea.id for r in recalled)


def test_a_new_question_recalls_earlier_ones_and_stems_words(store_target):
    with open_lab(store_target.root) as opened:
        _fill(opened)
        q = questions.create(opened, "Do learned positional embeddings beat rotary?",
                             rule="val_loss <= baseline")
    ids = [r.id for r in q.similar]
    assert "i6" in ids[:3] and "i5" in ids[:3], q.similar  # "positions" ~ "positional"
    assert q.question.id not in ids


def test_an_unrelated_idea_recalls_nothing(store_target):
    with open_lab(store_target.root) as opened:
        _fill(opened)
        fresh = ideas.add(opened, "Speculative sampling")
    assert fresh.similar == ()


def test_an_idea_edited_by_a_move_stays_findable_once(lab):
    with open_lab(lab) as opened:
        ideas.add(opened, "Muon optimizer")
        ideas.move(opened, "i1", "picked", "cheap to try")
        ideas.move(opened, "i1", "dropped", "unstable")
        hits = opened.recall.search("muon")
    assert [(h.kind, h.ref) for h in hits] == [("idea", "i1")]


def test_dead_lists_dropped_ideas_and_no_answers_with_reasons(lab):
    with open_lab(lab) as opened:
        _fill(opened)
        ends = memory.dead(opened)
    assert [(e.kind, e.id, e.reason) for e in ends] == [
        ("idea", "i1", "no gain at any rung (q1)"),
        ("idea", "i6", "learned positions overfit the training lengths"),
        ("question", "q1", "QK-norm changed nothing measurable at 3 widths"),
    ]
    code, out, err = cli(lab, "idea", "list", "--dead")
    assert code == 0, err
    assert "3 dead ends" in out and "learned positions overfit" in out
    code, out, _ = cli(lab, "idea", "list", "--dead", "--json")
    assert [e["id"] for e in json.loads(out)] == ["i1", "i6", "q1"]
    code, _, err = cli(lab, "idea", "list", "--dead", "--all")
    assert code == 2 and "--dead lists the dead ends alone" in err


def test_the_cli_shows_what_was_tried_when_an_idea_is_added(lab):
    with open_lab(lab) as opened:
        _fill(opened)
    code, out, err = cli(lab, "idea", "add", "QK norm again, with a larger lr")
    assert code == 0, err
    assert "tried before, or close to it:" in out
    assert "idea i1 (dropped) QK-norm on attention logits: no gain at any rung (q1)" in out


@pytest.mark.parametrize("budget", ["lots", "-1", "inf"])
def test_a_bad_budget_is_one_clear_error_and_adds_nothing(lab, budget):
    code, _, err = cli(lab, "question", "new", "q?", "--rule", "val_loss <= 1",
                       "--budget", budget)
    assert code == 2 and "--budget is a positive number of FLOPs" in err
    with open_lab(lab) as opened:
        assert opened.questions.list() == []
