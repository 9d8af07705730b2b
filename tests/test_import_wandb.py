"""`stepstone import wandb`: offline runs written by wandb itself, read back into a lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("wandb")

from click.testing import CliRunner

from stepstone.cli import cli
from stepstone.errors import UsageError
from stepstone.importers import import_wandb
from stepstone.importers.from_wandb import find_run_files, read_records
from stepstone.store import init_lab, open_lab

SCRIPT = textwrap.dedent("""
    import math, sys
    import wandb

    run = wandb.init(project="wb", name="offline-one", config={"lr": 0.01,
                     "model": {"attention": "full", "layers": 2}}, tags=["a", "b"],
                     notes="from wandb", group="g1", job_type="train")
    for i in range(5):
        wandb.log({"loss": 1.0 / (i + 1), "nested": {"acc": i / 10}})
    wandb.log({"val/loss": 0.5, "note": "hello"}, step=10)
    wandb.log({"bad": math.inf}, step=11)
    run.summary["best"] = 0.9
    print("RUN", run.id)
    run.finish(exit_code=int(sys.argv[1]))
""")


def _wandb_run(tmp_path, exit_code: int = 0) -> str:  # type: ignore[no-untyped-def]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path),
           "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true"}
    env.pop("STEPSTONE_RUN_ID", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(exit_code)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("RUN", 1)[1].split()[0]


@pytest.fixture(scope="module")
def wandb_dir(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("wandb")
    ok = _wandb_run(root, 0)
    failed = _wandb_run(root, 3)
    return root, ok, failed


def test_import_keeps_ids_configs_metrics_summaries_times_and_marks_runs(wandb_dir, tmp_path):
    root, ok, failed = wandb_dir
    lab = init_lab(tmp_path)
    result = CliRunner().invoke(cli, ["import", "wandb", str(root), "--lab", str(lab), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert sorted(r["id"] for r in report["imported"]) == sorted([ok, failed])
    with open_lab(lab) as opened:
        record = opened.runs.get(ok)
        history = opened.metrics.history(ok)
        texts = opened.metrics.texts(ok)
        bad = opened.runs.get(failed)
        log = opened.run_object(ok, "log", "output.log")
    assert record.name == "offline-one" and record.project == "wb"
    assert record.status == "finished" and record.exit_code == 0
    assert record.tags == ["a", "b"] and record.notes == "from wandb"
    assert record.group_name == "g1" and record.job_type == "train"
    assert record.config == {"lr": 0.01, "model": {"attention": "full", "layers": 2}}
    assert record.imported_from.startswith("wandb:") and ok in record.imported_from
    assert history["loss"].steps == [0, 1, 2, 3, 4]
    assert history["loss"].values[-1] == pytest.approx(0.2)
    assert history["nested/acc"].values == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert history["val/loss"].steps == [10]
    assert history["bad"].values == [float("inf")] and record.has_nonfinite == 1
    assert texts["note"] == [(10, "hello")]
    assert record.summary["best"] == 0.9 and record.summary["loss"] == pytest.approx(0.2)
    assert record.last_step == 11
    assert record.created_at <= history["loss"].times[0] <= record.ended_at
    assert bad.status == "failed" and bad.exit_code == 3
    assert f"RUN {ok}".encode() in log


def test_importing_twice_duplicates_nothing(wandb_dir, tmp_path):
    root, ok, _ = wandb_dir
    lab = init_lab(tmp_path)
    first = import_wandb(root, lab)
    second = import_wandb(root, lab)
    assert len(first.imported) == 2 and second.imported == []
    assert {s["reason"] for s in second.skipped} == {"already imported"}
    with open_lab(lab) as opened:
        assert len(opened.runs.list()) == 2
        assert opened.metrics.count(ok) == first.imported[[r["id"] for r in first.imported]
                                                          .index(ok)]["points"]


def test_dry_run_writes_nothing_and_one_run_folder_imports_alone(wandb_dir, tmp_path):
    root, ok, _ = wandb_dir
    lab = init_lab(tmp_path)
    assert len(import_wandb(root, lab, dry_run=True).imported) == 2
    with open_lab(lab) as opened:
        assert opened.runs.list() == []
    [one] = [f for f in find_run_files(root) if ok in f.name]
    report = import_wandb(one.parent, lab)
    assert [r["id"] for r in report.imported] == [ok]


def test_a_torn_tail_keeps_every_whole_record(wandb_dir, tmp_path):
    root, ok, _ = wandb_dir
    [path] = [f for f in find_run_files(root) if ok in f.name]
    whole = list(read_records(path))
    torn = tmp_path / path.name
    torn.write_bytes(path.read_bytes()[:-5])
    assert list(read_records(torn)) == whole[:-1]


def test_a_path_that_is_not_a_wandb_run_is_a_clear_error(tmp_path):
    lab = init_lab(tmp_path / "lab")
    bogus = tmp_path / "run-x.wandb"
    bogus.write_bytes(b"not a wandb file at all")
    with pytest.raises(UsageError, match="not a wandb run file"):
        import_wandb(bogus, lab)
    with pytest.raises(UsageError, match="does not exist"):
        import_wandb(tmp_path / "missing", lab)


MEDIA_SCRIPT = textwrap.dedent("""
    import wandb

    run = wandb.init(project="wb", name="media")
    run.define_metric("loss", summary="min")
    run.define_metric("acc", summary="max,mean")
    run.define_metric("eval/*", summary="last,first")
    table = wandb.Table(columns=["a", "b"], data=[[1, "x"], [2, "y"]])
    for i in range(4):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 10, "eval/f1": i / 4})
    run.log({"samples": table, "hist": wandb.Histogram([1, 2, 2, 3]),
             "val": {"loss": 0.3, "phase": "end"}})
    print("RUN", run.id)
    run.finish()
""")


def test_tables_and_histograms_stay_out_and_define_metric_summaries_come_in(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path),
           "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true"}
    env.pop("STEPSTONE_RUN_ID", None)
    proc = subprocess.run([sys.executable, "-c", MEDIA_SCRIPT], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split("RUN", 1)[1].split()[0]
    lab = init_lab(tmp_path / "lab")
    report = import_wandb(tmp_path / "wandb", lab)
    assert report.notes == [f"run {run_id}: skipped values that are not numbers or text: "
                            "hist (1), samples (1)"]
    with open_lab(lab) as opened:
        keys = [k for k in opened.metrics.keys(run_id) if not k.startswith("system/")]
        system = opened.metrics.history(run_id, ["system/proc_rss_mb", "system/memory_percent"])
        texts = opened.metrics.texts(run_id)
        record = opened.runs.get(run_id)
        summary = record.summary
    # wandb's system metrics (its stats records) under stepstone's names, numbered by sample
    assert system["system/proc_rss_mb"].values[0] > 1
    assert 0 < system["system/memory_percent"].values[0] <= 100
    assert system["system/proc_rss_mb"].steps == list(range(len(system["system/proc_rss_mb"])))
    assert record.last_step == 4  # the training's, not the samples'
    assert keys == ["acc", "eval/f1", "loss", "val/loss"]  # no samples/ncols, no hist/...
    assert texts == {"val/phase": [(4, "end")]}  # no samples/_type, no hist/_type
    assert summary == {
        "loss": pytest.approx(0.25), "loss.min": pytest.approx(0.25),
        "acc": pytest.approx(0.3), "acc.max": pytest.approx(0.3),
        "acc.mean": pytest.approx(0.15), "eval/f1": pytest.approx(0.75),
        "eval/f1.first": 0, "val/loss": pytest.approx(0.3), "val/phase": "end"}
