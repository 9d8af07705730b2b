"""The wandb surface that libraries use, in one process: ``define_metric(step_metric=...)``,
``Artifact`` and ``log_artifact``, the init options stepstone ignores, and TensorBoard sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import stepstone
from stepstone.errors import UsageError
from stepstone.integrations import as_wandb
from stepstone.sdk import session
from stepstone.store import open_lab
from stepstone.store.target import open_objects


def _history(root, run_id):
    with open_lab(root) as lab:
        return {k: (list(s.steps), list(s.values)) for k, s in lab.metrics.history(run_id).items()}


def test_step_metric_puts_points_at_the_trainer_step(lab):
    run = stepstone.init(project="p", lab=lab)
    run.define_metric("train/global_step")
    run.define_metric("*", step_metric="train/global_step", step_sync=True)
    run.define_metric("val/*", step_metric="epoch")
    run.define_metric("val/exact", step_metric=None)
    run.log({"train/loss": 1.0, "train/global_step": 10})
    run.log({"eval/loss": 2.0, "train/global_step": 15,
             "eval/table": stepstone.Table(columns=["a"], data=[[1]])})
    run.log({"train/loss": 0.5})  # no step metric in the row: its last value
    run.log({"samples": stepstone.Table(columns=["a"], data=[[2]])})  # media too
    run.log({"epoch": 1, "val/acc": 0.7, "val/exact": 3.0})
    run.log({"epoch": 0.5, "val/acc": 0.8})  # not a whole number: the run's own step
    run.finish()
    with open_lab(lab) as opened:
        media = sorted(o.name for o in opened.run_objects(run.id, "media"))
    # media land where their key's metrics do (Lightning's log_image, HF's non-scalar logs)
    assert media == ["eval/table@15.table.json", "samples@15.table.json"]
    history = _history(lab, run.id)
    assert history["train/loss"] == ([10, 15], [1.0, 0.5])
    assert history["eval/loss"] == ([15], [2.0])
    assert history["train/global_step"] == ([10, 15], [10.0, 15.0])
    assert history["epoch"] == ([1, 5], [1.0, 0.5])  # a step metric at its own value
    assert history["val/acc"] == ([1, 5], [0.7, 0.8])
    assert history["val/exact"] == ([4], [3.0])  # an exact name beats the patterns


def test_a_fractional_step_metric_is_said_once(lab, capsys):
    run = stepstone.init(project="p", lab=lab)
    run.define_metric("*", step_metric="epoch")
    for i in range(3):
        run.log({"epoch": i + 0.5, "loss": 1.0})
    run.finish()
    assert capsys.readouterr().err.count("step_metric 'epoch' has the value 0.5") == 1
    assert _history(lab, run.id)["loss"][0] == [0, 1, 2]


def test_bad_step_metric_is_refused(lab):
    run = stepstone.init(project="p", lab=lab)
    with pytest.raises(UsageError, match="step_metric must be a metric name"):
        run.define_metric("*", step_metric="")
    run.finish()


def test_artifacts_are_stored_once_by_content(store_target, tmp_path):
    weights = tmp_path / "model.ckpt"
    weights.write_bytes(b"weights-1")
    folder = tmp_path / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "w.bin").write_bytes(b"weights-1")
    run = stepstone.init(project="p", lab=store_target.root)
    artifact = stepstone.Artifact("model-x", type="model", metadata={"score": 0.5})
    artifact.add_file(weights)
    artifact.add_dir(folder, name="ckpt")
    with artifact.new_file("notes.txt", mode="w") as handle:
        handle.write("hello")
    artifact.add(stepstone.Table(columns=["a"], data=[[1]]), "table")
    artifact.add_reference("s3://bucket/data/shard-0.tar")
    assert run.log_artifact(artifact, aliases=["best"]) is artifact and artifact.version == "v0"
    second = stepstone.Artifact("model-x", type="model")
    second.add_file(weights, name="model.ckpt")
    stepstone.log_artifact(second)
    stepstone.log_artifact(str(folder))  # a path: named after it
    run.finish()
    with open_lab(store_target.root) as lab:
        rows = {o.name: o.hash for o in lab.run_objects(run.id, "artifact")}
        manifest = json.loads(lab.run_object(run.id, "artifact-manifest", "model-x:v0"))
        stored = {name: lab.objects.get(digest) for name, digest in rows.items()}
    assert sorted(rows) == [
        "ckpt:v0/config.json", "ckpt:v0/sub/w.bin",
        "model-x:v0/ckpt/config.json", "model-x:v0/ckpt/sub/w.bin", "model-x:v0/model.ckpt",
        "model-x:v0/notes.txt", "model-x:v0/table.table.json", "model-x:v1/model.ckpt"]
    assert stored["model-x:v0/notes.txt"] == b"hello"
    assert json.loads(stored["model-x:v0/table.table.json"]) == {"columns": ["a"],
                                                                 "data": [[1]]}
    # the same bytes under four names: one object
    assert len({rows["model-x:v0/model.ckpt"], rows["model-x:v1/model.ckpt"],
                rows["model-x:v0/ckpt/sub/w.bin"], rows["ckpt:v0/sub/w.bin"]}) == 1
    assert manifest["type"] == "model" and manifest["aliases"] == ["best"]
    assert manifest["metadata"] == {"score": 0.5}
    assert manifest["files"]["model.ckpt"]["size"] == len(b"weights-1")
    assert manifest["references"] == {"shard-0.tar": "s3://bucket/data/shard-0.tar"}


def test_a_resumed_run_goes_on_from_its_artifact_versions(lab, tmp_path):
    weights = tmp_path / "model.pt"
    for content in (b"one", b"two"):
        weights.write_bytes(content)
        run = stepstone.init(project="p", lab=lab, id="resumed1", resume="allow")
        artifact = stepstone.Artifact("model", type="model")
        artifact.add_file(weights)
        run.log_artifact(artifact)
        run.finish()
    with open_lab(lab) as opened:
        assert opened.run_object("resumed1", "artifact", "model:v0/model.pt") == b"one"
        assert opened.run_object("resumed1", "artifact", "model:v1/model.pt") == b"two"


def test_put_file_streams_into_the_same_object(tmp_path):
    objects = open_objects(str(tmp_path / "objects"))
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * (3 << 20))
    digest, size = objects.put_file(source)
    assert size == 3 << 20 and digest == objects.put(source.read_bytes())
    assert objects.get(digest) == source.read_bytes()
    assert [p.name for p in (tmp_path / "objects").iterdir()] == [digest[:2]]  # no temp left


def test_artifact_bad_input_is_one_clear_error(lab, tmp_path):
    with pytest.raises(UsageError, match="artifact name 'a/b'"):
        stepstone.Artifact("a/b", type="model")
    artifact = stepstone.Artifact("m", type="model")
    with pytest.raises(UsageError, match="it is not a file"):
        artifact.add_file(tmp_path / "missing.pt")
    with pytest.raises(UsageError, match="it is not a folder"):
        artifact.add_dir(tmp_path / "missing")
    with pytest.raises(UsageError, match="not a file name inside an artifact"):
        artifact.add_file(__file__, name="../escape.py")
    gone = tmp_path / "gone.pt"
    gone.write_bytes(b"1")
    artifact.add_file(gone)
    gone.unlink()
    run = stepstone.init(project="p", lab=lab)
    with pytest.raises(UsageError, match="is gone"):
        run.log_artifact(artifact)
    run.finish()
    with open_lab(lab) as opened:
        assert opened.run_objects(run.id, "artifact") == []


def test_ignored_init_options_are_warned_about_once(lab, capsys, monkeypatch):
    monkeypatch.setattr(session, "_warned_options", set())
    for _ in range(2):
        stepstone.init(project="p", lab=lab, monitor_gym=True, magic=False, entity="me",
                       config={"a": 1, "b": 2, "c": 3}, config_exclude_keys=["b"]).finish()
    err = capsys.readouterr().err
    assert err.count("init(monitor_gym=...) is ignored: gym videos are not recorded") == 1
    assert "magic" not in err and "entity" not in err
    stepstone.init(project="p", lab=lab, settings={"x_disable_stats": True}).finish()
    assert "settings" not in capsys.readouterr().err  # a setting stepstone reads
    run = stepstone.init(project="p", lab=lab, config={"a": 1, "b": 2},
                         config_include_keys=["a"])
    assert run.config.as_dict() == {"a": 1}
    run.finish()


@pytest.mark.parametrize("library", ["torch.utils.tensorboard", "tensorboardX"])
def test_sync_tensorboard_mirrors_a_summary_writer(lab, tmp_path, library):
    writer_module = pytest.importorskip(library)
    run = stepstone.init(project="p", lab=lab, sync_tensorboard=True)
    writer = writer_module.SummaryWriter(str(tmp_path / "tb"))
    for step in (0, 5, 10):
        writer.add_scalar("loss", 1.0 / (step + 1), step)
    writer.add_scalars("acc", {"train": 0.5, "val": 0.25}, 10)
    writer.close()
    sibling = writer_module.SummaryWriter(str(tmp_path / "eval"))
    sibling.add_scalar("loss", 3.0, 10)
    sibling.close()
    run.finish()
    other = writer_module.SummaryWriter(str(tmp_path / "after"))
    other.add_scalar("loss", 9.0, 99)  # after the run: no run to mirror into, nothing breaks
    other.close()
    history = _history(lab, run.id)
    assert history["loss"] == ([0, 5, 10], pytest.approx([1.0, 1 / 6, 1 / 11]))
    assert history["acc/train"] == ([10], [0.5]) and history["acc/val"] == ([10], [0.25])
    assert history["eval/loss"] == ([10], [3.0])  # a writer elsewhere: its folder's name


def test_the_alias_entry_point(tmp_path, lab, capsys):
    as_wandb.main(["--path"])
    assert capsys.readouterr().out.strip().split(os.pathsep)[0] == str(as_wandb.SHIM)
    with pytest.raises(SystemExit, match=r"nope\.py is not a file: give the script to run"):
        as_wandb.main([str(tmp_path / "nope.py")])
    assert str(as_wandb.SHIM) not in sys.path  # refused before anything changed
    (tmp_path / "mod_train.py").write_text(
        "import sys, wandb\nwandb.init(project='m').finish()\n"
        "print(sys.argv[1:], wandb.__file__)\n")
    result = subprocess.run(
        [sys.executable, "-m", "stepstone.integrations.as_wandb", "-m", "mod_train", "--lr", "1"],
        cwd=tmp_path, env={**os.environ, "STEPSTONE_LAB": str(lab)}, capture_output=True,
        text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "['--lr', '1']" in result.stdout and str(as_wandb.SHIM) in result.stdout
