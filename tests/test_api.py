"""The read API: runs, filters, histories, summaries, evaluations, fits, frames and HTML."""

from __future__ import annotations

import math

import pytest

pd = pytest.importorskip("pandas")

import stepstone  # noqa: E402
from stepstone.api import Api, Fit  # noqa: E402
from stepstone.errors import NotFoundError, UsageError  # noqa: E402
from stepstone.store import init_lab, open_lab  # noqa: E402


@pytest.fixture(scope="module")
def lab(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = init_lab(tmp_path_factory.mktemp("api"))
    specs = [
        ("full-a", "full", 0.1, "q1", "small@2026-11-21", ["sweep"], 0),
        ("slide-b", "sliding", 0.2, "q1", "small@2026-11-21", ["sweep", "best"], 0),
        ("full-c", "full", 0.3, "q2", None, [], 1),
    ]
    ids = {}
    for name, attention, lr, question, baseline, tags, exit_code in specs:
        run = stepstone.init(project="api", name=name, lab=root, question=question,
                             baseline=baseline, tags=tags, save_code=False,
                             config={"model": {"attention": attention}, "lr": lr})
        for step in range(6):
            run.log({"loss": lr * (6 - step), "acc": step / 10})
        run.log({"val/loss": lr}, step=5)
        run.log({"phase": "done"}, step=6)
        run.summary["best_acc"] = 0.5 + lr
        run.log_eval([{"id": i, "correct": i % 2 == 0, "difficulty": "easy" if i < 2 else "hard"}
                      for i in range(4)], name="mqar")
        run.finish(exit_code=exit_code)
        ids[name] = run.id
    with open_lab(root) as opened:
        fit_id = opened.save_fit(label="small", form="power", source="test",
                                 run_ids=[ids["full-a"], ids["slide-b"]], flops_method=None,
                                 result={"params": {"a": 1.5}, "r2": 0.99})
    return root, ids, fit_id


def test_runs_filter_by_question_baseline_status_tag_and_config(lab):
    root, _, _ = lab
    api = stepstone.Api(lab=str(root))
    assert isinstance(api, Api)
    assert len(api.runs()) == 3
    assert {r.name for r in api.runs(question="q1")} == {"full-a", "slide-b"}
    assert [r.name for r in api.runs(baseline="small@2026-11-21", tag="best")] == ["slide-b"]
    assert [r.name for r in api.runs(status="failed")] == ["full-c"]
    full = api.runs(filters={"config.model.attention": "full"})
    assert {r.name for r in full} == {"full-a", "full-c"}
    assert [r.name for r in api.runs(filters={"config.lr": {"$gte": 0.2},
                                              "state": "finished"})] == ["slide-b"]
    assert {r.name for r in api.runs(filters={"tags": "sweep"})} == {"full-a", "slide-b"}
    assert [r.name for r in api.runs(filters={"summary.best_acc": {"$gt": 0.75}})] == ["full-c"]
    either = api.runs(filters={"$or": [{"name": "full-a"}, {"config.lr": 0.3}]})
    assert {r.name for r in either} == {"full-a", "full-c"}
    assert [r.name for r in api.runs(order="+config.lr")] == ["full-a", "slide-b", "full-c"]
    assert [r.name for r in api.runs("someone/api", order="-summary.best_acc", limit=2)] == [
        "full-c", "slide-b"]
    assert api.runs(filters={"config.missing": {"$exists": True}}).ids == []
    with pytest.raises(UsageError, match="unknown filter field"):
        api.runs(filters={"colour": "red"})
    with pytest.raises(UsageError, match="unknown filter operator"):
        api.runs(filters={"config.lr": {"$near": 1}})


def test_run_fields_config_summary_and_history_like_wandb(lab):
    root, ids, _ = lab
    api = Api(lab=root)
    run = api.run(ids["slide-b"])
    assert api.run(f"api/{ids['slide-b']}").id == run.id == api.run("slide-b").id
    assert run.state == run.status == "finished" and run.question == "q1"
    assert run.config == {"model": {"attention": "sliding"}, "lr": 0.2}
    assert run.summary["best_acc"] == pytest.approx(0.7) and run.summary["acc"] == 0.5
    assert run.tags == ["sweep", "best"] and run.baseline == "small@2026-11-21"
    frame = run.history()
    assert list(frame.columns) == ["_step", "_runtime", "_timestamp", "acc", "loss", "phase",
                                   "val/loss"]
    assert frame["_step"].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert frame["loss"].iloc[0] == pytest.approx(1.2)
    assert frame["val/loss"].iloc[5] == pytest.approx(0.2) and math.isnan(frame["val/loss"][0])
    assert frame["phase"].iloc[6] == "done"
    assert (frame["_runtime"].dropna() >= 0).all()  # a text-only step has no time
    only = run.history(keys=["val/loss"])
    assert only["_step"].tolist() == [5] and list(only.columns)[-1] == "val/loss"
    assert len(run.history(samples=3)) == 3
    assert run.history(samples=3)["_step"].tolist() == [0, 3, 6]
    records = run.history(pandas=False)
    assert records[6]["phase"] == "done" and records[0]["val/loss"] is None
    rows = list(run.scan_history(keys=["loss", "val/loss"]))
    assert [r["_step"] for r in rows] == [5] and rows[0]["loss"] == pytest.approx(0.2)
    assert [r["_step"] for r in run.scan_history(min_step=2, max_step=4)] == [2, 3]
    assert run.metric_keys() == ["acc", "loss", "val/loss"]
    with pytest.raises(NotFoundError):
        api.run("no-such-run")


def test_polars_history_when_installed(lab):
    pl = pytest.importorskip("polars")
    root, ids, _ = lab
    frame = Api(lab=root).run(ids["full-a"]).history(format="polars")
    assert isinstance(frame, pl.DataFrame)
    assert frame["loss"].to_list()[:2] == pytest.approx([0.6, 0.5])
    runs = Api(lab=root).runs_frame(format="polars")
    assert runs.height == 3


def test_evaluations_and_fits(lab):
    root, ids, fit_id = lab
    api = Api(lab=root)
    run = api.run(ids["full-a"])
    evals = run.evals()
    assert run.eval_names() == ["mqar"]
    assert evals["correct"].tolist() == [True, False, True, False]
    assert evals["difficulty"].tolist() == ["easy", "easy", "hard", "hard"]
    both = api.evals_frame([ids["full-a"], ids["full-c"]], name="mqar")
    assert both.columns[0] == "run_id" and len(both) == 8
    [fit] = api.fits(label="small")
    assert isinstance(fit, Fit) and fit.id == fit_id and fit.result["r2"] == 0.99
    assert [f.id for f in run.fits()] == [fit_id] and api.run(ids["full-c"]).fits() == []
    assert api.fit(fit_id).form == "power"
    assert "result.params.a" in fit._repr_html_()


def test_frames_are_the_export_tables_and_write_to_parquet_and_csv(lab, tmp_path):
    pytest.importorskip("pyarrow")
    root, ids, _ = lab
    api = Api(lab=root)
    runs = api.runs_frame()
    assert len(runs) == 3
    assert {"id", "name", "status", "question_id", "baseline", "config.model.attention",
            "config.lr", "summary.best_acc", "imported_from"} <= set(runs.columns)
    picked = api.runs_frame(api.runs(question="q1"))
    assert set(picked["name"]) == {"full-a", "slide-b"}
    history = api.history_frame([ids["full-a"]], keys=["loss"])
    assert list(history.columns) == ["run_id", "key", "step", "value", "time", "text"]
    assert history["step"].tolist() == list(range(6)) and set(history["key"]) == {"loss"}
    assert len(api.history_frame()) == 3 * (6 + 6 + 1 + 1)  # the text point "phase" too
    runs.to_parquet(tmp_path / "runs.parquet")
    history.to_csv(tmp_path / "h.csv", index=False)
    back = pd.read_parquet(tmp_path / "runs.parquet")
    assert back["config.lr"].tolist() == runs["config.lr"].tolist()
    assert pd.read_csv(tmp_path / "h.csv")["value"].tolist() == history["value"].tolist()
    stacked = api.runs(question="q1").histories(keys=["loss"])
    assert stacked.columns[0] == "run_id" and len(stacked) == 12


def test_html_is_escaped(tmp_path):
    root = init_lab(tmp_path)
    run = stepstone.init(project="x", name="<script>alert(1)</script>", lab=root,
                         config={"note": "<b>bold</b>"}, save_code=False)
    run.log({"loss": 1.0})
    run.finish()
    api = Api(lab=root)
    for markup in (api.runs()._repr_html_(), api.run(run.id)._repr_html_()):
        assert "<script>" not in markup and "&lt;script&gt;" in markup
        assert "<b>" not in markup
    assert "<table" in api.runs()._repr_html_()


def test_module_exports_exactly_the_read_api(lab):
    import stepstone.api as api_module
    from stepstone.api import matches

    assert api_module.__all__ == ["Api", "Fit", "Run", "Runs", "matches"]
    root, ids, _ = lab
    record = Api(lab=root).run(ids["slide-b"]).record
    assert matches(record, {"tags": "best", "config.lr": {"$gt": 0.15}})
    assert not matches(record, {"$or": [{"name": "full-a"}, {"config.lr": {"$lt": 0.15}}]})


def test_records_format_has_none_where_a_frame_has_nan(lab):
    root, ids, _ = lab
    api = Api(lab=root)
    rows = api.evals_frame([ids["full-a"]], name="mqar", format="records")
    assert [r["correct"] for r in rows] == [True, False, True, False]
    assert rows[0]["run_id"] == ids["full-a"] and rows[0]["prediction"] is None
    with pytest.raises(UsageError, match="unknown format 'xls'"):
        api.evals_frame(format="xls")
