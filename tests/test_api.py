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


def test_a_wandb_api_users_snippets_run(lab, tmp_path):
    """The calls people write against ``wandb.Api()``, each on a stepstone lab."""
    root, ids, _ = lab
    api = stepstone.Api(lab=root, timeout=60)
    assert len(stepstone.Api(overrides={"project": "api", "entity": "me"}, lab=root).runs()) == 3
    runs = api.runs("me/api", per_page=100, include_sweeps=False, lazy=True)
    summary_list = [run.summary._json_dict for run in runs]  # wandb's export recipe
    assert {"best_acc", "loss"} <= set(summary_list[0]) and isinstance(summary_list[0], dict)
    config_list = [{k: v for k, v in run.config.items() if not k.startswith("_")}
                   for run in runs]
    assert {c["lr"] for c in config_list} == {0.1, 0.2, 0.3}
    run = api.run(ids["full-a"])
    assert run.entity == api.default_entity == "stepstone"
    assert run.path == ["stepstone", "api", run.id]
    assert api.run("/".join(run.path)).id == run.id
    assert run.url == f"http://127.0.0.1:8420/runs/{run.id}"
    assert run.lastHistoryStep == 6 == run.last_step
    meta = run.metadata
    assert meta["python"] and meta["startedAt"] and "packages" in meta
    assert run.summary_metrics["best_acc"] == pytest.approx(0.6)
    history = run.history(keys=["val/loss"], x_axis="acc")  # the x axis comes along
    assert list(history.columns)[-2:] == ["acc", "val/loss"]
    assert history["acc"].is_monotonic_increasing
    assert run.history(stream="events").empty  # no system samples in a 1-second run
    assert [r.name for r in api.runs(filters={"jobType": None})] != []
    project = api.project("api")
    assert project.name == "api" and project.path == ["stepstone", "api"]
    assert len(project.runs()) == 3
    assert [p.name for p in api.projects()] == ["api"]
    with pytest.raises(NotFoundError, match="no project 'nope' in this lab: it has api"):
        api.project("nope")
    with pytest.raises(UsageError, match="does not support base_url"):
        stepstone.Api(overrides={"base_url": "https://api.wandb.ai"}, lab=root)
    with pytest.raises(AttributeError, match="has no field 'upload_file'"):
        run.upload_file("x.txt")


def test_created_at_filters_take_an_iso_date(lab):
    root, _, _ = lab
    api = Api(lab=root)
    assert len(api.runs(filters={"created_at": {"$gt": "2020-01-01T00:00:00"}})) == 3
    assert len(api.runs(filters={"createdAt": {"$gte": "2020-01-01"}})) == 3
    assert len(api.runs(filters={"created_at": {"$lt": "2020-01-01T00:00:00Z"}})) == 0
    import datetime

    assert len(api.runs(filters={"created_at": {"$gt": datetime.date(2020, 1, 1)}})) == 3
    with pytest.raises(UsageError, match="'last week' is not a date"):
        api.runs(filters={"created_at": {"$gt": "last week"}})
    with pytest.raises(UsageError, match=r"'0\.1' is text but the field holds numbers"):
        api.runs(filters={"config.lr": {"$gt": "0.1"}})


def test_job_type_filter(tmp_path):
    root = init_lab(tmp_path)
    for job in ("train", "eval", "train"):
        stepstone.init(project="j", lab=root, job_type=job, save_code=False,
                       system_metrics=False).finish()
    api = Api(lab=root)
    assert len(api.runs(filters={"jobType": "train"})) == 2
    assert [r.job_type for r in api.runs(filters={"job_type": "eval"})] == ["eval"]


def test_update_writes_summary_config_and_fields_and_nothing_before_it(tmp_path):
    root = init_lab(tmp_path)
    run = stepstone.init(project="u", lab=root, save_code=False, system_metrics=False,
                         config={"lr": 0.1}, tags=["a"])
    run.log({"loss": 1.0})
    run.finish()
    api = Api(lab=root)
    found = api.run(run.id)
    found.summary["x"] = 1
    del found.summary["loss"]
    found.config["note"] = "checked"
    found.tags.append("reviewed")
    found.name = "renamed"
    found.notes = "looked at it"
    assert found.summary["x"] == 1 and found.name == "renamed"
    fresh = Api(lab=root).run(run.id)  # nothing is written before update()
    assert "x" not in fresh.summary and fresh.name != "renamed" and fresh.tags == ["a"]
    found.update()
    again = Api(lab=root).run(run.id)
    assert again.summary == {"x": 1}
    assert again.config == {"lr": 0.1, "note": "checked"}
    assert again.tags == ["a", "reviewed"] and again.name == "renamed"
    assert again.notes == "looked at it"
    again.summary.update({"y": 2.5})  # summary.update writes at once, as in wandb
    assert Api(lab=root).run(run.id).summary == {"x": 1, "y": 2.5}
    with pytest.raises(AttributeError, match="cannot be set"):
        again.status = "finished"


def test_files_are_objects_with_a_name_and_download(tmp_path):
    root = init_lab(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"weights")
    run = stepstone.init(project="f", lab=root, save_code=False, system_metrics=False)
    print("hello from the run")
    run.save(tmp_path / "model.pt")
    run.finish()
    api = Api(lab=root)
    found = api.run(run.id)
    names = {f.name: f for f in found.files()}
    assert {"model.pt", "output.log"} <= set(names)
    model = names["model.pt"]
    assert model.role == "artifact" and model.size == 7 and model["name"] == "model.pt"
    out = tmp_path / "down"
    with model.download(root=out) as fh:
        assert fh.name == str(out / "model.pt")
    assert (out / "model.pt").read_bytes() == b"weights"
    with pytest.raises(ValueError, match="replace=True"):
        model.download(root=out)
    model.download(root=out, exist_ok=True).close()
    model.download(root=out, replace=True).close()
    assert [f.name for f in found.files(pattern="%.pt")] == ["model.pt"]
    assert [f.name for f in found.files(names=["output.log"])] == ["output.log"]
    assert b"hello from the run" in found.file("output.log").read()
    with pytest.raises(NotFoundError, match=r"has no file 'nope\.bin'"):
        found.file("nope.bin")


def test_fits_by_label_find_a_tier_named_in_the_default_label(tmp_path):
    from stepstone.store import init_lab, open_lab

    root = init_lab(tmp_path)
    with open_lab(root) as opened:
        default = opened.save_fit(label="baseline:small@2026-11-21 (its own runs, kind "
                                  "baseline)", form="power", source="s", run_ids=[],
                                  flops_method=None, result={})
        opened.save_fit(label="baseline:smaller@2026-11-21", form="power", source="s",
                        run_ids=[], flops_method=None, result={})
        named = opened.save_fit(label="small", form="power", source="s", run_ids=[],
                                flops_method=None, result={})
    api = Api(lab=root)
    assert {f.id for f in api.fits(label="small")} == {default, named}
    assert len(api.fits()) == 3
