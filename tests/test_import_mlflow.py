"""`stepstone import mlflow`: runs logged by MLflow into a temporary SQLite store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mlflow")

from click.testing import CliRunner

from stepstone.cli import cli
from stepstone.errors import UsageError
from stepstone.importers import import_mlflow
from stepstone.importers.from_mlflow import parse_param
from stepstone.store import init_lab, open_lab

SCRIPT = textwrap.dedent("""
    import sys
    import mlflow

    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("mlf")
    with mlflow.start_run(run_name="good", description="from mlflow") as run:
        mlflow.log_params({"lr": 0.01, "model.attention": "full", "layers": 2,
                           "use_bias": True, "sched": None})
        mlflow.set_tag("team", "vision")
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("val_loss", 0.7, step=4)
        print("GOOD", run.info.run_id)
    with mlflow.start_run(run_name="bad") as run:
        mlflow.log_metric("loss", 2.0, step=0)
        print("BAD", run.info.run_id)
    mlflow.MlflowClient().set_terminated(run.info.run_id, "FAILED")
    mlflow.set_experiment("other")
    with mlflow.start_run(run_name="elsewhere") as run:
        mlflow.log_metric("x", 1.0)
""")


@pytest.fixture(scope="module")
def store(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    env.pop("STEPSTONE_RUN_ID", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, uri], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    good = proc.stdout.split("GOOD", 1)[1].split()[0]
    bad = proc.stdout.split("BAD", 1)[1].split()[0]
    return uri, root / "mlflow.db", good, bad


def test_import_keeps_ids_params_histories_status_and_times(store, tmp_path):
    uri, _, good, bad = store
    lab = init_lab(tmp_path)
    result = CliRunner().invoke(cli, ["import", "mlflow", uri, "--experiment", "mlf",
                                      "--lab", str(lab), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert sorted(r["id"] for r in report["imported"]) == sorted([good, bad])
    with open_lab(lab) as opened:
        record = opened.runs.get(good)
        history = opened.metrics.history(good)
        failed = opened.runs.get(bad)
    assert record.name == "good" and record.project == "mlf"
    assert record.status == "finished" and record.notes == "from mlflow"
    assert record.config == {"lr": 0.01, "model": {"attention": "full"}, "layers": 2,
                             "use_bias": True, "sched": None}
    assert "team=vision" in record.tags
    assert history["loss"].steps == [0, 1, 2, 3, 4]
    assert history["loss"].values[-1] == pytest.approx(0.2)
    assert history["val_loss"].steps == [4]
    assert record.summary == {"loss": pytest.approx(0.2), "val_loss": pytest.approx(0.7)}
    assert record.imported_from == f"mlflow:{uri}"
    assert record.ended_at is not None and record.created_at <= history["loss"].times[0]
    assert history["loss"].times[-1] <= record.ended_at
    assert failed.status == "failed"


def test_importing_twice_duplicates_nothing_and_a_db_file_path_works(store, tmp_path):
    uri, db_file, good, _ = store
    lab = init_lab(tmp_path)
    first = import_mlflow(uri, lab)
    assert len(first.imported) == 3
    again = import_mlflow(db_file, lab)  # the same store, named by its file
    assert again.imported == [] and len(again.skipped) == 3
    with open_lab(lab) as opened:
        assert len(opened.runs.list()) == 3
        assert opened.metrics.count(good) == 6


def test_params_read_back_as_values_and_unknown_experiments_are_errors(store, tmp_path):
    assert parse_param("0.001") == 0.001 and parse_param("True") is True
    assert parse_param("[1, 2]") == [1, 2] and parse_param("None") is None
    assert parse_param("adam") == "adam"
    lab = init_lab(tmp_path)
    with pytest.raises(UsageError, match="no MLflow experiment 'nope'"):
        import_mlflow(store[0], lab, experiments=["nope"])
    with pytest.raises(UsageError, match="no MLflow database"):
        import_mlflow(f"sqlite:///{tmp_path / 'typo.db'}", lab)
    assert not (tmp_path / "typo.db").exists()


GROW = textwrap.dedent("""
    import sys
    from mlflow import MlflowClient

    client = MlflowClient(sys.argv[1])
    if sys.argv[2] == "start":
        experiment = client.create_experiment("growing")
        run = client.create_run(experiment, run_name="long")
        for step in range(2):
            client.log_metric(run.info.run_id, "loss", 1.0 / (step + 1), step=step)
        print("RUN", run.info.run_id)
    else:
        for step in range(2, 5):
            client.log_metric(sys.argv[3], "loss", 1.0 / (step + 1), step=step)
        client.set_terminated(sys.argv[3], "FINISHED")
""")


def test_a_run_that_grew_since_the_last_import_is_brought_up_to_date(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    def mlflow(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-c", GROW, uri, *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    run_id = mlflow("start").split("RUN", 1)[1].split()[0]
    lab = init_lab(tmp_path / "lab")
    first = import_mlflow(uri, lab)
    assert [r["id"] for r in first.imported] == [run_id]
    with open_lab(lab) as opened:
        assert opened.runs.get(run_id).status == "crashed"  # it had not ended yet
        page = opened.notebook.append(kind="note", title="watching", body="", run_id=run_id)
    mlflow("go on", run_id)
    result = CliRunner().invoke(cli, ["import", "mlflow", uri, "--lab", str(lab), "--json"])
    assert result.exit_code == 0, result.output
    second = json.loads(result.output)
    assert second["imported"] == [] and [r["id"] for r in second["updated"]] == [run_id]
    with open_lab(lab) as opened:
        record = opened.runs.get(run_id)
        assert record.status == "finished" and record.reason is None
        assert opened.metrics.history(run_id)["loss"].steps == [0, 1, 2, 3, 4]
        assert record.summary["loss"] == pytest.approx(0.2)
        assert opened.notebook.get(page).run_id == run_id  # references kept
    third = import_mlflow(uri, lab)
    assert third.updated == [] and [s["reason"] for s in third.skipped] == ["already imported"]
