"""Evaluation suites: distilled from a question, checked when a run of the tier finishes,
and a gate on promotion."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from _cli import cli
from stepstone.errors import MethodError, NotFoundError, UsageError
from stepstone.method import baselines as baseline_rules
from stepstone.method import decide as decide_rules
from stepstone.method import questions as question_rules
from stepstone.method import result_page
from stepstone.method import suites as suite_rules
from stepstone.method.promote import promote
from stepstone.store import open_lab
from stepstone.store.evals import normalize_record
from stepstone.store.lab import Lab
from stepstone.store.migrations import LATEST


def make_run(lab: Lab, *, kind: str, baseline: str, summary: dict, question: str | None = None,
             seed: int = 0, evals: list[dict] | dict[int, list[dict]] | None = None,
             status: str = "finished") -> str:
    """A stored run; ``evals`` is one evaluation (no step) or evaluations by step."""
    run_id = uuid.uuid4().hex[:8]
    now = time.time()
    lab.runs.create({"id": run_id, "name": f"{kind}-{run_id}", "project": "t", "kind": kind,
                     "status": status, "created_at": now, "ended_at": now + 1,
                     "baseline": baseline, "question_id": question, "seed": seed},
                    {"seed": seed})
    lab.runs.set_summary(run_id, summary)
    by_step = evals if isinstance(evals, dict) else {None: evals} if evals else {}
    for step, recs in by_step.items():
        with lab.db.transaction():
            lab.evals.write(run_id, "eval", step,
                            [normalize_record(r, i) for i, r in enumerate(recs)])
    return run_id


def records(easy: float, hard: float, n: int = 20) -> list[dict]:
    out = []
    for i in range(n):
        out.append({"id": f"e{i}", "correct": i < easy * n, "difficulty": "easy"})
        out.append({"id": f"h{i}", "correct": i < hard * n, "difficulty": "hard"})
    return out


@pytest.fixture
def answered(lab: Path) -> tuple[Path, str, str]:
    """Tier small with two baseline runs and q1 (QK-norm) answered yes by two feature runs."""
    with open_lab(lab) as opened:
        version = baseline_rules.create(opened, "small", {"model": {"qk_norm": False}},
                                        reference_metric="val_loss").version
        for seed, loss in ((0, 3.0), (1, 3.01)):
            make_run(opened, kind="baseline", baseline=version, seed=seed,
                     summary={"val_loss": loss, "latency_ms": 0.8},
                     evals=records(0.95, 0.6))
        q = question_rules.create(opened, "Does QK-norm lower val_loss?", metrics=["val_loss"],
                                  rule="val_loss <= baseline - 0.01 and latency_ms <= 1.0",
                                  baseline="small").question
        opened.questions.update(q.id, feature_keys=["model.qk_norm"],
                                feature_delta={"model.qk_norm": True})
        for seed, loss in ((0, 2.80), (1, 2.82)):
            make_run(opened, kind="feature", baseline=version, question=q.id, seed=seed,
                     summary={"val_loss": loss, "latency_ms": 0.9},
                     evals=records(1.0, 0.8))
        proposal, _ = decide_rules.decide(opened, q.id, conclusion="QK-norm helps")
        assert proposal.answer == "yes", proposal.to_dict()
    return lab, q.id, version


def test_schema_has_the_suite_tables(lab: Path) -> None:
    with open_lab(lab) as opened:
        assert {"suites", "suite_checks"} <= set(opened.db.tables())
    assert LATEST >= 4


def test_distill_takes_metrics_constraints_and_worst_bucket(answered) -> None:
    lab, qid, _version = answered
    with open_lab(lab) as opened:
        row = suite_rules.distill(opened, "core", qid)
        assert row.version.startswith("core@") and row.tier == "small"
        assert row.question_id == qid and row.parent is None
        checks = {c.kind: c for c in row.spec.checks}
        threshold = checks["threshold"]
        assert threshold.metric == "val_loss" and threshold.op == "<="
        # the worst adopted run (2.82) plus the seed spread (sd of 2.80, 2.82)
        assert threshold.value == pytest.approx(2.82 + 0.0141421, rel=1e-4)
        constraint = checks["constraint"]
        assert (constraint.metric, constraint.op, constraint.value) == \
            ("latency_ms", "<=", 1.0)  # from the question's rule
        bucket = checks["bucket"]
        assert (bucket.field, bucket.bucket, bucket.stat) == \
            ("difficulty", "hard", "accuracy")
        assert bucket.value == pytest.approx(0.8)
        assert row.spec.buckets[0]["worst"] == "hard"
        assert row.spec.reference["runs"]  # the runs it came from
        # a decision page says what became the standard
        pages = opened.notebook.pages(question_id=qid, kind="decision")
        assert any(row.version in p.title for p in pages)
        # a second distillation is a new dated version, the first one stays as it was
        again = suite_rules.distill(opened, "core", qid, constraints=["memory_gb <= 40"])
        assert again.parent == row.version and again.version != row.version
        assert opened.suites.get(row.version).spec == row.spec
        assert any(c.metric == "memory_gb" for c in again.spec.checks)
        assert suite_rules.get(opened, "core").version == again.version


def test_distill_needs_an_answered_question(lab: Path) -> None:
    with open_lab(lab) as opened:
        baseline_rules.create(opened, "small", {"a": 1})
        q = question_rules.create(opened, "open?", rule="val_loss <= 3", baseline="small").question
        with pytest.raises(MethodError, match="decide it first"):
            suite_rules.distill(opened, "core", q.id)


def test_run_of_the_tier_is_checked_when_it_finishes(answered) -> None:
    lab, qid, version = answered
    with open_lab(lab) as opened:
        suite_rules.distill(opened, "core", qid)
        good = make_run(opened, kind="baseline", baseline=version,
                        summary={"val_loss": 2.81, "latency_ms": 0.9}, evals=records(1.0, 0.9))
        bad = make_run(opened, kind="baseline", baseline=version,
                       summary={"val_loss": 3.2, "latency_ms": 1.5}, evals=records(1.0, 0.5))
        other = make_run(opened, kind="adhoc", baseline="", summary={"val_loss": 9.0})
        page = result_page.record_run_result(opened, good)
        assert page is not None and "PASS" in page.body
        assert page.data["suites"][0]["passed"] is True
        page = result_page.record_run_result(opened, bad)
        assert "FAIL" in page.body
        failed = {r["metric"]: r for r in page.data["suites"][0]["results"]}
        assert not failed["val_loss"]["passed"] and failed["val_loss"]["value"] == 3.2
        assert not failed["latency_ms"]["passed"]
        assert not failed["eval[difficulty=hard]"]["passed"]
        assert failed["eval[difficulty=hard]"]["value"] == pytest.approx(0.5)
        assert result_page.record_run_result(opened, other).data["suites"] == []
        # a missing number fails its check: nothing passes unmeasured
        blank = make_run(opened, kind="baseline", baseline=version, summary={"x": 1.0})
        results = suite_rules.check_run(opened, blank)[0].results
        assert all(not r.passed and r.why for r in results)
        failing = {f.run_id for f in suite_rules.failing(opened)}
        assert {bad, blank} <= failing and good not in failing


def test_a_failing_check_blocks_a_promotion(answered) -> None:
    lab, qid, version = answered
    with open_lab(lab) as opened:
        suite_rules.distill(opened, "core", qid)
        # q2's feature lowers val_loss against the baseline but breaks the latency constraint
        q2 = question_rules.create(opened, "Does a bigger MLP help?", metrics=["val_loss"],
                                   rule="val_loss <= baseline - 0.01", baseline="small").question
        opened.questions.update(q2.id, feature_keys=["model.mlp"],
                                feature_delta={"model.mlp": 8})
        for seed in (0, 1):
            make_run(opened, kind="feature", baseline=version, question=q2.id, seed=seed,
                     summary={"val_loss": 2.7, "latency_ms": 2.5}, evals=records(1.0, 0.9))
        decide_rules.decide(opened, q2.id, conclusion="lower loss")
        assert opened.questions.get(q2.id).answer == "yes"
        before = len(opened.baselines.list("small"))
        with pytest.raises(MethodError, match="does not pass its suites") as info:
            promote(opened, "small", q2.id)
        assert "latency_ms" in str(info.value)
        assert len(opened.baselines.list("small")) == before  # nothing was promoted
        # q1 passes its own suite and is promoted
        row = promote(opened, "small", qid)
        assert row.parent == version


def test_hand_written_suite_from_yaml(lab: Path, tmp_path: Path) -> None:
    spec = tmp_path / "recall.yaml"
    spec.write_text("description: recall floor\n"
                    "checks:\n"
                    "  - eval/accuracy >= 0.9\n"
                    "  - {metric: latency_ms, op: '<=', value: 1.0, kind: constraint}\n"
                    "  - {field: num_kv_pairs, bucket: 8, op: '>=', value: 0.5, stat: accuracy}\n")
    with open_lab(lab) as opened:
        version = baseline_rules.create(opened, "small", {"a": 1}).version
        row = suite_rules.create(opened, "recall", spec, tier="small")
        kinds = [c.kind for c in row.spec.checks]
        assert kinds == ["threshold", "constraint", "bucket"]
        assert row.spec.checks[2].bucket == "8"
        run = make_run(opened, kind="feature", baseline=version,
                       summary={"eval/accuracy": 0.95, "latency_ms": 0.5},
                       evals=[{"id": i, "correct": i % 4 != 0, "num_kv_pairs": 8}
                              for i in range(8)])
        [result] = suite_rules.check_run(opened, run)
        assert result.passed, result
        assert suite_rules.latest(opened, run)[0].suite == row.version
        bad = tmp_path / "bad.yaml"
        bad.write_text("checks:\n  - {metric: x, op: '=<', value: 1}\n")
        with pytest.raises(UsageError, match="op is one of"):
            suite_rules.create(opened, "bad", bad)
        with pytest.raises(UsageError, match="non-empty list"):
            suite_rules.create(opened, "bad", {"checks": []})
        with pytest.raises(UsageError, match="check 1: unknown keys: treshold"):
            suite_rules.create(opened, "bad", {"checks": [{"metric": "x", "op": "<=",
                                                           "value": 1, "treshold": 2}]})
        with pytest.raises(UsageError, match="metrics is a list"):
            suite_rules.create(opened, "bad", {"checks": ["x <= 1"], "metrics": "x"})
        assert opened.suites.list("bad") == []  # a refused suite leaves nothing behind


def test_suite_commands(answered) -> None:
    lab, qid, version = answered
    code, out, err = cli(lab, "suite", "create", "core", "--from", qid, "--json")
    assert code == 0, err
    created = json.loads(out)
    code, out, _ = cli(lab, "suite", "list", "--json")
    assert [r["version"] for r in json.loads(out)] == [created["version"]]
    with open_lab(lab) as opened:
        bad = make_run(opened, kind="baseline", baseline=version,
                       summary={"val_loss": 3.3, "latency_ms": 0.5}, evals=records(1, 1))
    code, out, _ = cli(lab, "suite", "check", bad, "--json")
    assert code == 1 and json.loads(out)[0]["passed"] is False
    code, out, _ = cli(lab, "suite", "check", bad)
    assert code == 1 and "FAIL val_loss = 3.3" in out
    code, out, _ = cli(lab, "suite", "show", "core", "--json")
    assert json.loads(out)["runs"][0]["run_id"] == bad
    code, out, _ = cli(lab, "show", bad, "--json")
    assert json.loads(out)["suite_checks"][0]["passed"] is False
    code, out, _ = cli(lab, "status", "--json")
    assert json.loads(out)["method"]["failing_suites"][0]["run_id"] == bad
    code, out, _ = cli(lab, "status")
    assert f"run {bad} fails suite {created['version']}" in out
    pytest.importorskip("mcp")
    from stepstone.mcp.tools import LabTools

    agent = LabTools(str(lab)).status().structured_content  # the agent's status: the same rule
    assert agent is not None and agent["method"]["failing_suites"][0]["run_id"] == bad
    code, _, err = cli(lab, "suite", "create", "core")
    assert code == 2 and "--from QUESTION" in err
    code, _, err = cli(lab, "baseline", "promote", "small", "--from", qid)
    assert code == 0, err


def answered_ladder(lab: Path) -> tuple[str, str]:
    """Tier small and q1 answered yes by feature runs on a two-rung ladder (n_params 1e6 and
    1e7, two seeds each): the small rung is worse on every number."""
    with open_lab(lab) as opened:
        version = baseline_rules.create(opened, "small", {"model": {"qk_norm": False}},
                                        reference_metric="val_loss").version
        q = question_rules.create(opened, "Does QK-norm lower val_loss at scale?",
                                  metrics=["val_loss"], rule="val_loss <= baseline - 0.01",
                                  baseline="small").question
        opened.questions.update(q.id, feature_keys=["model.qk_norm"],
                                feature_delta={"model.qk_norm": True})
        for n_params, losses, memory, hard in ((1e6, (3.50, 3.52), 2.0, 0.3),
                                               (1e7, (2.80, 2.82), 8.0, 0.8)):
            for seed, loss in enumerate(losses):
                make_run(opened, kind="feature", baseline=version, question=q.id, seed=seed,
                         summary={"val_loss": loss, "memory_gb": memory, "n_params": n_params},
                         evals=records(1.0, hard))
        opened.questions.update(q.id, status="answered", answer="yes")
    return q.id, version


def test_a_ladder_suite_holds_one_scale(lab: Path) -> None:
    qid, version = answered_ladder(lab)
    with open_lab(lab) as opened:
        row = suite_rules.distill(opened, "core", qid)
        spec = row.spec
        assert (spec.rung, spec.rungs) == (10_000_000, (1_000_000, 10_000_000))
        checks = {c.metric: c for c in spec.checks}
        # the largest rung's runs only: not the worst value across model sizes (3.52)
        assert checks["val_loss"].value == pytest.approx(2.82 + 0.0141421, rel=1e-4)
        assert checks["memory_gb"].value == pytest.approx(8.0 * 1.1)
        assert checks["eval[difficulty=hard]"].value == pytest.approx(0.8)
        assert spec.reference is not None and spec.source is not None
        assert len(spec.reference["runs"]) == 2 and "at rung 10000000" in spec.source
        # a run at the suite's scale (n_params moved 2% by a feature) is checked
        near = make_run(opened, kind="baseline", baseline=version, evals=records(1.0, 0.9),
                        summary={"val_loss": 2.83, "memory_gb": 8.1, "n_params": 1.02e7})
        page = result_page.record_run_result(opened, near)
        assert page.data["suites"][0]["passed"] is True and "PASS" in page.body
        # runs of another scale are skipped, saying so, and nothing is recorded for them
        small = make_run(opened, kind="baseline", baseline=version, evals=records(1.0, 0.3),
                         summary={"val_loss": 3.51, "memory_gb": 2.0, "n_params": 1e6})
        huge = make_run(opened, kind="baseline", baseline=version, evals=records(1.0, 0.9),
                        summary={"val_loss": 2.5, "memory_gb": 30.0, "n_params": 5e7})
        for run_id, rung in ((small, "1000000"), (huge, "50000000")):
            page = result_page.record_run_result(opened, run_id)
            [result] = page.data["suites"]
            assert result["passed"] is None and f"at rung {rung}" in result["skipped"]
            assert f"Suite {row.version}: skipped" in page.body
            assert suite_rules.latest(opened, run_id) == []
        code, out, _ = cli(lab, "suite", "check", small)
        assert code == 0 and "skipped" in out
        # the small rung on request
        again = suite_rules.distill(opened, "core-small", qid, rung="1e6")
        assert again.spec.rung == 1_000_000
        assert {c.metric: c.value for c in again.spec.checks}["val_loss"] == \
            pytest.approx(3.52 + 0.0141421, rel=1e-4)
        with pytest.raises(NotFoundError, match="no adopted run is at rung 3e6"):
            suite_rules.distill(opened, "core", qid, rung="3e6")


def test_a_promotion_is_gated_at_the_suite_scale_only(lab: Path) -> None:
    qid, version = answered_ladder(lab)
    with open_lab(lab) as opened:
        suite_rules.distill(opened, "core", qid)

        def feature_question(runs: list[tuple[float, float]]) -> str:
            q = question_rules.create(opened, f"feature {len(runs)}?", metrics=["val_loss"],
                                      rule="val_loss <= baseline - 0.01", baseline="small").question
            opened.questions.update(q.id, feature_keys=["model.mlp"],
                                    feature_delta={"model.mlp": len(runs)},
                                    status="answered", answer="yes")
            for seed, (n_params, loss) in enumerate(runs):
                make_run(opened, kind="feature", baseline=version, question=q.id,
                         seed=seed, evals=records(1.0, 0.9),
                         summary={"val_loss": loss, "memory_gb": 8.0, "n_params": n_params})
            return q.id

        # only small-rung runs: nothing shows it meets the large rung's standard
        only_small = feature_question([(1e6, 3.3), (1e6, 3.31)])
        with pytest.raises(MethodError, match=r"no finished run of \w+ is at the scale"):
            promote(opened, "small", only_small)
        # small-rung runs are not held to the large rung's thresholds; the large ones pass
        ladder = feature_question([(1e6, 3.3), (1e7, 2.79)])
        results = suite_rules.gate(opened, "small", ladder)
        by_outcome = {r.passed: r for r in results}
        assert len(results) == 2 and set(by_outcome) == {None, True}
        assert "at rung 1000000, the suite holds rung 10000000" in str(by_outcome[None].skipped)
        assert promote(opened, "small", ladder).parent == version


def test_rungs_without_an_order_need_a_choice(lab: Path) -> None:
    with open_lab(lab) as opened:
        version = baseline_rules.create(opened, "small", {"a": 1}).version
        q = question_rules.create(opened, "named rungs?", metrics=["val_loss"],
                                  rule="val_loss <= 3", baseline="small").question
        for rung in ("s", "m"):
            run_id = make_run(opened, kind="feature", baseline=version, question=q.id,
                              summary={"val_loss": 2.0, "rung": rung})
            assert opened.runs.get(run_id).summary["rung"] == rung
        opened.questions.update(q.id, status="answered", answer="yes")
        with pytest.raises(UsageError, match="choose the scale the suite is for with --rung"):
            suite_rules.distill(opened, "named", q.id)
        assert suite_rules.distill(opened, "named", q.id, rung="m").spec.rung == "m"


def test_buckets_come_from_the_final_evaluation(lab: Path) -> None:
    with open_lab(lab) as opened:
        version = baseline_rules.create(opened, "small", {"a": 1}).version
        q = question_rules.create(opened, "final eval?", metrics=["val_loss"],
                                  rule="val_loss <= 3", baseline="small").question
        for seed in (0, 1):  # early in training the hard bucket is at 0.2, at the end 0.8
            make_run(opened, kind="feature", baseline=version, question=q.id, seed=seed,
                     summary={"val_loss": 2.0},
                     evals={100: records(0.5, 0.2), 1000: records(1.0, 0.8)})
        opened.questions.update(q.id, status="answered", answer="yes")
        row = suite_rules.distill(opened, "final", q.id, tier="small")
        [bucket] = row.spec.buckets or ()
        assert bucket["means"] == {"easy": pytest.approx(1.0), "hard": pytest.approx(0.8)}
        [check] = [c for c in row.spec.checks if c.kind == "bucket"]
        assert check.value == pytest.approx(0.8)  # not the average over steps (0.5)
        # a run is checked on its final evaluation too: 0.0 early, 0.85 at the end
        good = make_run(opened, kind="baseline", baseline=version, summary={"val_loss": 2.0},
                        evals={10: records(1.0, 0.0), 20: records(1.0, 0.85)})
        [result] = suite_rules.check_run(opened, good)
        hard = next(r for r in result.results if r.kind == "bucket")
        assert hard.value == pytest.approx(0.85) and hard.passed
        # and the other way round: a run that ends worse than it was fails
        worse = make_run(opened, kind="baseline", baseline=version, summary={"val_loss": 2.0},
                         evals={10: records(1.0, 0.9), 20: records(1.0, 0.5)})
        [result] = suite_rules.check_run(opened, worse)
        hard = next(r for r in result.results if r.kind == "bucket")
        assert hard.value == pytest.approx(0.5) and not hard.passed


def test_suite_create_from_a_file_on_the_command_line(lab: Path, tmp_path: Path) -> None:
    spec = tmp_path / "floor.yaml"
    spec.write_text("checks:\n  - eval/accuracy >= 0.9\n")
    with open_lab(lab) as opened:
        baseline_rules.create(opened, "small", {"a": 1})
    code, out, err = cli(lab, "suite", "create", "floor", "--file", str(spec), "--tier", "small",
                         "--json")
    assert code == 0, err
    row = json.loads(out)
    assert row["tier"] == "small" and [c["metric"] for c in row["spec"]["checks"]] == [
        "eval/accuracy"]
    code, _, err = cli(lab, "suite", "create", "floor", "--file", str(spec), "--eval", "eval")
    assert code == 2 and "go with --from" in err
    code, _, err = cli(lab, "suite", "create", "floor")
    assert code == 2 and "--from QUESTION" in err


@pytest.mark.parametrize("metric, cost", [
    ("latency_ms", True), ("train/latency", True), ("memory_gb", True), ("peak_mem_gb", True),
    ("peakMemGB", True), ("vramGB", True), ("cost_usd", True), ("gpu-mem-mb", True),
    ("costume_acc", False), ("accost_rate", False), ("peak_memorization", False),
    ("eval/memorization_acc", False), ("val_loss", False),
])
def test_a_cost_metric_goes_by_whole_words(metric: str, cost: bool) -> None:
    assert suite_rules.is_cost(metric) is cost


def test_distill_holds_a_metric_with_cost_inside_a_word_as_a_threshold(lab: Path) -> None:
    with open_lab(lab) as opened:
        version = baseline_rules.create(opened, "small", {"a": 1}).version
        q = question_rules.create(opened, "Does it memorize more?",
                                  metrics=["peak_memorization"],
                                  rule="peak_memorization >= baseline + 0.01",
                                  baseline="small").question
        for seed, (score, memory) in enumerate(((0.70, 3.0), (0.72, 3.2))):
            make_run(opened, kind="feature", baseline=version, question=q.id, seed=seed,
                     summary={"peak_memorization": score, "peakMemGB": memory})
        opened.questions.update(q.id, status="answered", answer="yes")
        checks = {c.metric: c for c in suite_rules.distill(opened, "mem", q.id).spec.checks}
    # a score whose name holds "peak_mem" is a threshold (higher is better), not a cost limit
    assert (checks["peak_memorization"].kind, checks["peak_memorization"].op) == \
        ("threshold", ">=")
    assert checks["peak_memorization"].value == pytest.approx(0.70 - 0.0141421, rel=1e-4)
    # a camelCase memory metric is a cost: its worst value plus 10%
    assert (checks["peakMemGB"].kind, checks["peakMemGB"].op) == ("constraint", "<=")
    assert checks["peakMemGB"].value == pytest.approx(3.2 * 1.1)
