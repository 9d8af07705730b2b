"""The SDK: init, log, config, summary, log_eval, finish, resume."""

from __future__ import annotations

import math
import sys

import pytest

import stepstone
from stepstone.errors import MetricValueError, UsageError
from stepstone.sdk.writer import Op
from stepstone.store import init_lab, open_lab


@pytest.fixture
def lab_root(tmp_path):
    return init_lab(tmp_path)


def read(lab_root, run_id):
    with open_lab(lab_root) as lab:
        return lab.runs.get(run_id), lab.metrics.history(run_id), lab.metrics.texts(run_id)


def test_log_records_every_point_with_steps(lab_root):
    run = stepstone.init(project="p", lab=lab_root, config={"lr": 0.1})
    for i in range(1000):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 1000})
    run.finish()
    record, history, _ = read(lab_root, run.id)
    assert record.status == "finished"
    assert history["loss"].steps == list(range(1000))
    assert history["loss"].values[-1] == pytest.approx(1 / 1000)
    assert record.summary["acc"] == pytest.approx(0.999)
    assert record.last_step == 999


def test_explicit_steps_and_commit_false_merge_into_one_step(lab_root):
    run = stepstone.init(project="p", lab=lab_root)
    run.log({"a": 1.0}, step=10)
    run.log({"b": 2.0}, step=10)
    run.log({"c": 3.0}, commit=False)
    run.log({"d": 4.0})
    run.finish()
    _, history, _ = read(lab_root, run.id)
    assert history["a"].steps == [10] and history["b"].steps == [10]
    assert history["c"].steps == [11] and history["d"].steps == [11]


def test_nested_dicts_flatten_and_scalars_normalize(lab_root):
    np = pytest.importorskip("numpy")
    run = stepstone.init(project="p", lab=lab_root)
    run.log({"train": {"loss": np.float32(0.5), "ok": True}, "n": np.int64(3), "note": "hi"})
    run.finish()
    _, history, texts = read(lab_root, run.id)
    assert history["train/loss"].values == [0.5]
    assert history["train/ok"].values == [1.0]
    assert history["n"].values == [3.0]
    assert texts == {"note": [(0, "hi")]}


def test_non_finite_values_are_stored_and_flagged(lab_root, capsys):
    run = stepstone.init(project="p", lab=lab_root)
    run.log({"loss": float("nan")})
    run.log({"loss": float("inf")})
    run.log({"loss": 1.0})
    run.finish()
    record, history, _ = read(lab_root, run.id)
    values = history["loss"].values
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == 1.0
    assert record.has_nonfinite == 1
    assert "is nan" in capsys.readouterr().err


@pytest.mark.parametrize(
    "value, fragment",
    [
        (None, "None"),
        (object(), "not a number or text"),
        ([1, 2], "not a number or text"),
    ],
    ids=["none", "object", "list"],
)
def test_bad_metric_values_raise_clear_errors(lab_root, value, fragment):
    run = stepstone.init(project="p", lab=lab_root)
    with pytest.raises(MetricValueError, match=fragment):
        run.log({"x": value})
    run.finish()


class _FailingTensor:
    """A one-element value whose read fails (a tensor on a device that hit an error)."""

    size = 1

    def item(self) -> float:
        raise RuntimeError("CUDA error: device-side assert triggered")


def test_a_value_whose_read_fails_is_refused_naming_its_key_and_nothing_is_logged(lab_root):
    run = stepstone.init(project="p", lab=lab_root)
    with pytest.raises(MetricValueError, match=r"cannot log 'x': reading its value \(\.item\(\)\)"
                                               r" raised RuntimeError: CUDA error"):
        run.log({"y": 1.0, "x": _FailingTensor()}, step=0)
    run.log({"y": 2.0}, step=1)
    run.finish()
    with open_lab(lab_root) as opened:
        assert opened.metrics.history(run.id)["y"].values == [2.0]


def test_array_values_are_refused_with_advice(lab_root):
    np = pytest.importorskip("numpy")
    run = stepstone.init(project="p", lab=lab_root)
    with pytest.raises(MetricValueError, match="log_eval"):
        run.log({"x": np.ones(3)})
    run.finish()


def test_config_attribute_item_and_update(lab_root):
    run = stepstone.init(project="p", lab=lab_root, config={"lr": 0.1, "model": {"d": 8}})
    assert run.config.lr == 0.1 and run.config["model"] == {"d": 8}
    run.config.batch = 32
    run.config.update({"wd": 0.01})
    run.config["lr"] = 0.2
    run.finish()
    record, _, _ = read(lab_root, run.id)
    assert record.config == {"lr": 0.2, "model": {"d": 8}, "batch": 32, "wd": 0.01}


def test_config_accepts_namespace_and_dataclass(lab_root):
    import argparse
    import dataclasses

    @dataclasses.dataclass
    class Cfg:
        width: int = 4

    run = stepstone.init(project="p", lab=lab_root, config=argparse.Namespace(lr=1e-3))
    run.config.update(Cfg())
    run.finish()
    record, _, _ = read(lab_root, run.id)
    assert record.config == {"lr": 1e-3, "width": 4}


def test_explicit_summary_wins_over_last_value(lab_root):
    run = stepstone.init(project="p", lab=lab_root)
    run.log({"loss": 2.0})
    run.log({"loss": 1.0})
    run.summary["loss"] = 0.5
    run.summary.update({"best_step": 1})
    run.finish()
    record, _, _ = read(lab_root, run.id)
    assert record.summary["loss"] == 0.5 and record.summary["best_step"] == 1


def test_log_eval_stores_records_with_buckets(lab_root):
    run = stepstone.init(project="p", lab=lab_root)
    n = run.log_eval([
        {"id": "a", "score": 1.0, "difficulty": "easy"},
        {"id": "b", "correct": False, "difficulty": "hard", "prediction": "x"},
    ])
    run.finish()
    with open_lab(lab_root) as lab:
        records = lab.evals.records(run.id)
    assert n == 2
    assert records[0].to_dict() == {"id": "a", "score": 1.0, "difficulty": "easy",
                                    "name": "eval", "step": None}
    assert records[1].correct is False and records[1].score is None  # a proportion
    assert records[1].prediction == "x"


def test_log_eval_refuses_a_record_without_score(lab_root):
    run = stepstone.init(project="p", lab=lab_root)
    with pytest.raises(UsageError, match="neither 'score' nor 'correct'"):
        run.log_eval([{"id": "a"}])
    run.finish()


def test_failed_exit_code_marks_failed(lab_root):
    run = stepstone.init(project="p", lab=lab_root)
    run.finish(exit_code=2)
    record, _, _ = read(lab_root, run.id)
    assert record.status == "failed" and record.exit_code == 2 and "exit code 2" in record.reason


def test_context_manager_marks_exception_as_failed(lab_root):
    with pytest.raises(RuntimeError), stepstone.init(project="p", lab=lab_root) as run:
        raise RuntimeError("diverged")
    record, _, _ = read(lab_root, run.id)
    assert record.status == "failed" and "RuntimeError: diverged" in record.reason


def test_log_after_finish_is_refused(lab_root):
    run = stepstone.init(project="p", lab=lab_root)
    run.finish()
    with pytest.raises(UsageError, match="finished"):
        run.log({"x": 1})


def test_resume_continues_steps_and_refuses_without_resume(lab_root):
    run = stepstone.init(project="p", lab=lab_root, id="resume01")
    run.log({"x": 1.0})
    run.log({"x": 2.0})
    run.finish(exit_code=1)
    with pytest.raises(UsageError, match="resume='allow'"):
        stepstone.init(project="p", lab=lab_root, id="resume01")
    again = stepstone.init(project="p", lab=lab_root, id="resume01", resume="allow")
    again.log({"x": 3.0})
    again.finish()
    record, history, _ = read(lab_root, "resume01")
    assert history["x"].steps == [0, 1, 2]
    assert record.status == "finished" and record.exit_code is None


def test_resume_must_needs_an_existing_run(lab_root):
    with pytest.raises(UsageError, match="resume='must'"):
        stepstone.init(project="p", lab=lab_root, id="nosuchrun", resume="must")


def test_disabled_mode_records_nothing(lab_root):
    run = stepstone.init(project="p", lab=lab_root, mode="disabled")
    run.log({"x": 1.0})
    run.finish()
    with open_lab(lab_root) as lab:
        assert lab.runs.list() == []


def test_save_stores_a_file_with_the_run(lab_root, tmp_path):
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"weights")
    run = stepstone.init(project="p", lab=lab_root)
    digest = run.save(ckpt)
    run.finish()
    with open_lab(lab_root) as lab:
        assert lab.run_object(run.id, "artifact", "model.pt") == b"weights"
        assert lab.objects.exists(digest)


def test_init_without_a_lab_creates_one_in_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("STEPSTONE_LAB", raising=False)
    run = stepstone.init(project="p", dir=tmp_path)
    run.log({"x": 1.0})
    run.finish()
    with open_lab(tmp_path / ".stepstone") as lab:
        assert lab.runs.get(run.id).status == "finished"


def test_unknown_init_argument_is_a_type_error(lab_root):
    with pytest.raises(TypeError, match="bogus"):
        stepstone.init(project="p", lab=lab_root, bogus=1)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"mode": "onlin"}, "mode must be 'online', 'offline' or 'disabled', not 'onlin'"),
    ({"resume": "yes"}, "resume must be 'allow', 'must', 'never', 'auto', True or False"),
    ({"system_metrics": -1}, "system_metrics=-1"),
    ({"config": 3}, "config must be a dict"),
])
def test_bad_init_options_are_refused_before_anything_is_made(lab_root, tmp_path, kwargs,
                                                               fragment):
    running = stepstone.init(project="p", lab=lab_root)
    elsewhere = tmp_path / "elsewhere"
    with pytest.raises(UsageError, match=fragment):
        stepstone.init(project="p", lab=elsewhere, **kwargs)
    assert stepstone.run is running and not elsewhere.exists()  # no lab made, no run ended
    running.finish()
    with open_lab(lab_root) as lab:
        assert [r.id for r in lab.runs.list()] == [running.id]


def test_a_key_logged_beside_different_keys_keeps_logging_order(lab_root):
    run = stepstone.init(project="p", lab=lab_root, flush_interval=60)
    run.log({"a": 0.0, "b": 0.0})
    run.log({"a": 1.0})
    run.log({"a": 2.0, "note": "text"})
    run.log({"a": 3.0, "b": 3.0})
    run.log({"a": "four"})
    run.finish()
    _, history, texts = read(lab_root, run.id)
    assert history["a"].steps == [0, 1, 2, 3] and history["a"].values == [0.0, 1.0, 2.0, 3.0]
    assert history["b"].steps == [0, 3]
    assert texts == {"note": [(2, "text")], "a": [(4, "four")]}


def test_calls_with_the_same_keys_in_another_order_keep_each_value_with_its_key(lab_root):
    run = stepstone.init(project="p", lab=lab_root, flush_interval=60)
    for step in range(6):
        row = {"a": float(step), "b": -float(step)}
        run.log(row if step % 2 else dict(reversed(row.items())))
    run.finish()
    _, history, _ = read(lab_root, run.id)
    assert history["a"].values == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert history["b"].values == [0.0, -1.0, -2.0, -3.0, -4.0, -5.0]
    assert history["a"].steps == history["b"].steps == list(range(6))


def test_summary_takes_each_last_value_in_logging_order_with_summary_edits(lab_root):
    run = stepstone.init(project="p", lab=lab_root, flush_interval=60)  # one flush holds all
    run.log({"a": 1.0, "b": 1.0})
    run.summary["a"] = 10.0
    run.log({"b": 2.0})
    run.log({"c": 3.0, "a": 4.0})
    run.summary["c"] = 30.0
    run.log({"a": 5.0, "b": 5.0})
    run.log({"b": 6.0})
    run.summary["d"] = 7.0
    run.flush()
    assert dict(run.summary) == {"a": 5.0, "b": 6.0, "c": 30.0, "d": 7.0}
    run.finish()
    record, _, _ = read(lab_root, run.id)
    assert record.summary == {"a": 5.0, "b": 6.0, "c": 30.0, "d": 7.0}


def test_a_queued_call_holds_nothing_the_garbage_collector_tracks(lab_root):
    import gc

    run = stepstone.init(project="p", lab=lab_root, flush_interval=60)
    for step in range(100):
        run.log({"loss": 1.0 / (step + 1), "lr": 0.1, "note": "warm"})
    run.log({"nested": {"x": 1.0}})
    gc.collect()
    # the calls, without what the start-up capture may have queued beside them meanwhile
    queued = [item for item in run._writer.queue if type(item) is not Op]
    assert len(queued) == 4 * 101 and not any(gc.is_tracked(item) for item in queued)
    run.finish()
    _, history, texts = read(lab_root, run.id)
    assert len(history["loss"]) == 100 and history["nested/x"].steps == [100]
    assert len(texts["note"]) == 100


def test_a_burst_is_checkpointed_beside_the_writer_which_only_appends_to_the_log(lab_root):
    import threading

    from stepstone.sdk.run import wait_for_capture

    run = stepstone.init(project="p", lab=lab_root, flush_interval=0.05)
    for step in range(30_000):  # 300,000 points: about 7 MB, past a checkpoint's 4 MB
        run.log({f"m{k}": float(step + k) for k in range(10)})
    run.flush()
    writer_db = run._writer._db
    assert writer_db.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    run.finish()
    wait_for_capture()  # the writer closes once the start-up capture is written
    assert f"stepstone-checkpoints-{run.id}" not in {t.name for t in threading.enumerate()}
    assert (lab_root / "lab.db").stat().st_size > 300_000 * 24  # copied out of the log
    _, history, _ = read(lab_root, run.id)
    assert len(history) == 10 and all(len(series) == 30_000 for series in history.values())


def test_a_burst_is_written_before_the_interval_ends(lab_root):
    import time

    from stepstone.sdk.writer import EARLY_FLUSH_CALLS

    run = stepstone.init(project="p", lab=lab_root, flush_interval=30)
    for step in range(EARLY_FLUSH_CALLS + 10):
        run.log({"x": float(step)})
    deadline = time.time() + 20
    count = 0
    while time.time() < deadline and count == 0:
        time.sleep(0.1)
        with open_lab(lab_root) as lab:
            count = lab.metrics.count(run.id)
    run.finish()
    assert count >= EARLY_FLUSH_CALLS


def test_define_metric_summarizes_every_point_also_across_a_resume(lab_root):
    run = stepstone.init(project="p", lab=lab_root, id="defmet01")
    for value in (3.0, 1.0, float("nan")):
        run.log({"loss": value})
    run.finish()
    again = stepstone.init(project="p", lab=lab_root, id="defmet01", resume="allow")
    again.define_metric("loss", summary="min,max,mean,first,last")
    again.log({"loss": 2.0})
    again.finish()
    record, _, _ = read(lab_root, "defmet01")
    summary = record.summary
    assert summary["loss"] == 2.0 and summary["loss.min"] == 1.0 and summary["loss.max"] == 3.0
    assert summary["loss.mean"] == 2.0  # over the finite points only
    assert summary["loss.first"] == 3.0 and summary["loss.last"] == 2.0


@pytest.mark.parametrize(
    "kwargs, fragment",
    [({"summary": "median"}, "each kind is one of"), ({"summary": "best"}, "goal='minimize'"),
     ({"name": ""}, "needs a metric name")],
    ids=["unknown-kind", "best-without-goal", "no-name"],
)
def test_define_metric_refuses_bad_input(lab_root, kwargs, fragment):
    run = stepstone.init(project="p", lab=lab_root)
    with pytest.raises(UsageError, match=fragment):
        run.define_metric(**{"name": "loss", **kwargs})
    run.finish()
    record, _, _ = read(lab_root, run.id)
    assert not any("." in key for key in record.summary)


def test_wandb_stand_ins_need_a_run_except_login():
    assert stepstone.login() is True and stepstone.login(key="abc", relogin=True) is True
    with pytest.raises(UsageError, match=r"stepstone.watch\(\) needs a run"):
        stepstone.watch(object())
    with pytest.raises(UsageError, match=r"stepstone.define_metric\(\) needs a run"):
        stepstone.define_metric("loss", summary="min")


def test_histogram_bins_like_numpy_and_counts_non_finite_values():
    np = pytest.importorskip("numpy")
    values = np.random.default_rng(0).normal(size=1000)
    histogram = stepstone.Histogram([*values.tolist(), float("nan"), float("inf")], num_bins=16)
    counts, edges = np.histogram(values, bins=16)
    assert histogram.counts == counts.tolist()
    assert histogram.bins == pytest.approx(edges.tolist())
    assert histogram.nonfinite == 2
    given = stepstone.Histogram(np_histogram=(counts, edges))
    assert given.counts == counts.tolist() and given.nonfinite == 0
    with pytest.raises(UsageError, match="one edge more than counts"):
        stepstone.Histogram(np_histogram=(counts, edges[:-1]))
    with pytest.raises(UsageError, match="num_bins must be"):
        stepstone.Histogram([1.0], num_bins=0)


def test_histogram_without_numpy_counts_the_same(monkeypatch):
    """The pure-Python path (no numpy installed) bins like the numpy one, tensors included."""
    torch = pytest.importorskip("torch")
    values = torch.linspace(-3, 5, 1001)
    with_numpy = stepstone.Histogram(values, num_bins=7)
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` now fails
    without = stepstone.Histogram([*values.tolist(), float("nan")], num_bins=7)
    assert without.counts == with_numpy.counts and sum(without.counts) == 1001
    assert without.bins == pytest.approx(with_numpy.bins) and without.nonfinite == 1
    assert stepstone.Histogram([2.0, 2.0], num_bins=2).counts == [0, 2]


def test_a_table_needs_one_value_per_column():
    table = stepstone.Table(data=[[1, "a"], [2, "b"]])
    assert table.columns == ["Column 1", "Column 2"]
    with pytest.raises(UsageError, match="a table row has 1 values for 2 columns"):
        table.add_data(3)
    assert len(table.data) == 2


def test_an_image_file_is_stored_as_is_and_media_of_a_disabled_run_are_dropped(
    lab_root, tmp_path,
):
    picture = tmp_path / "plot.JPG"
    picture.write_bytes(b"not really a jpeg")
    run = stepstone.init(project="p", lab=lab_root)
    run.log({"plot": stepstone.Image(str(picture)), "loss": 1.0}, step=4)
    run.finish()
    with open_lab(lab_root) as lab:
        assert lab.run_object(run.id, "media", "plot@4.jpg") == b"not really a jpeg"
        assert list(lab.metrics.history(run.id)) == ["loss"]
    off = stepstone.init(project="p", lab=lab_root, mode="disabled")
    off.log({"plot": stepstone.Image(str(picture))})
    off.finish()
    with pytest.raises(UsageError, match="not a file"):
        stepstone.Image(str(tmp_path / "missing.png"))
