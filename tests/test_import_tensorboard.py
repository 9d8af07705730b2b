"""`stepstone import tensorboard`: event files written by PyTorch's SummaryWriter."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tensorboard")
pytest.importorskip("torch")

from click.testing import CliRunner
from torch.utils.tensorboard import SummaryWriter

from stepstone.cli import cli
from stepstone.importers import import_tensorboard
from stepstone.store import init_lab, open_lab


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("runs")
    writer = SummaryWriter(str(root / "exp1"))
    for step in range(5):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.add_scalars("acc", {"train": step / 10, "val": step / 20}, step)
    writer.add_text("note", "hello", 0)
    writer.add_hparams({"lr": 0.1, "opt": "adam", "layers": 2}, {"hparam/final": 0.9},
                       run_name=".")
    writer.close()
    other = SummaryWriter(str(root / "exp2"))
    other.add_scalar("train/loss", 3.0, 7)
    other.close()
    return root


def _runs(lab):  # type: ignore[no-untyped-def]
    with open_lab(lab) as opened:
        return {r.name: (r, opened.metrics.history(r.id), opened.metrics.texts(r.id))
                for r in opened.runs.list()}


def test_import_reads_scalars_text_and_hparams_one_run_per_folder(logdir, tmp_path):
    lab = init_lab(tmp_path)
    result = CliRunner().invoke(cli, ["import", "tensorboard", str(logdir), "--project", "tb",
                                      "--lab", str(lab), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["imported"]) == 2
    runs = _runs(lab)
    assert set(runs) == {"exp1", "exp2"}  # add_scalars' sub-folders fold into exp1
    record, history, texts = runs["exp1"]
    assert record.project == "tb" and record.status == "finished"
    assert record.imported_from == f"tensorboard:{(logdir / 'exp1').resolve()}"
    assert record.config == {"lr": 0.1, "opt": "adam", "layers": 2}
    assert history["train/loss"].steps == [0, 1, 2, 3, 4]
    assert history["train/loss"].values[-1] == pytest.approx(0.2)
    assert history["acc/train"].values == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert history["acc/val"].steps == [0, 1, 2, 3, 4]
    assert history["hparam/final"].values == [pytest.approx(0.9)]
    assert texts == {"note": [(0, "hello")]}
    assert record.summary["train/loss"] == pytest.approx(0.2)
    assert record.created_at <= min(history["train/loss"].times) <= record.ended_at
    assert runs["exp2"][1]["train/loss"].steps == [7]


def test_importing_twice_duplicates_nothing_even_from_a_sub_folder(logdir, tmp_path):
    lab = init_lab(tmp_path / "lab")
    first = import_tensorboard(logdir, lab)
    again = import_tensorboard(logdir / "exp1", lab)
    assert len(first.imported) == 2 and again.imported == []
    assert again.skipped[0]["reason"] == "already imported"
    assert first.imported[0]["id"].startswith("tb")
    with open_lab(lab) as opened:
        assert len(opened.runs.list()) == 2


def _media(lab, run_id):  # type: ignore[no-untyped-def]
    with open_lab(lab) as opened:
        found = opened.run_objects(run_id, "media")
        assert len({o.name for o in found}) == len(found)  # each file once
        return {o.name: opened.objects.get(o.hash) for o in found}


def _write_media(folder, step):  # type: ignore[no-untyped-def]
    """Images, a batch of images, a clip, a sound and a text, as a PyTorch script writes
    them."""
    np = pytest.importorskip("numpy")
    from tensorboard.compat.proto.summary_pb2 import Summary

    import stepstone

    writer = SummaryWriter(str(folder))
    # add_video's summary: a GIF in an image summary (add_video itself needs moviepy)
    gif = stepstone.Video(np.full((2, 3, 4, 4), 200, dtype=np.uint8)).encode()
    clip = Summary.Image(height=4, width=4, colorspace=3, encoded_image_string=gif)
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag="clip", image=clip)]),
                                          step)
    ramp = np.zeros((3, 4, 6))
    ramp[0] = np.linspace(0, 1, 6)  # red rises left to right
    writer.add_image("samples/frame", ramp, step)
    writer.add_images("batch", np.ones((2, 3, 4, 6)), step)
    writer.add_audio("speech", np.sin(np.arange(800) / 8.0) * 0.5, step, sample_rate=8000)
    writer.add_text("caption", f"step {step}", step)
    writer.add_scalar("loss", 1.0 / (step + 1), step)
    writer.close()


def test_images_and_sounds_are_the_runs_media_named_as_the_live_mirror_names_them(tmp_path):
    np = pytest.importorskip("numpy")
    image = pytest.importorskip("PIL.Image")
    pytest.importorskip("fastapi")
    import io
    import wave

    from fastapi.testclient import TestClient

    import stepstone
    from stepstone.web.app import create_app

    live = init_lab(tmp_path / "live")
    run = stepstone.init(project="tb", lab=live, sync_tensorboard=True)
    _write_media(tmp_path / "runs" / "exp", 3)
    run.finish()
    lab = init_lab(tmp_path / "lab")
    report = import_tensorboard(tmp_path / "runs", lab)
    assert report.notes == []  # nothing skipped
    (imported,) = report.imported
    media = _media(lab, imported["id"])
    assert sorted(media) == ["batch@3.png", "clip@3.gif", "samples/frame@3.png", "speech@3.wav"]
    assert media == _media(live, run.id)  # the same names and bytes as the live mirror's
    with image.open(io.BytesIO(media["samples/frame@3.png"])) as frame:
        pixels = np.asarray(frame.convert("RGB"))
    assert pixels.shape == (4, 6, 3)
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255 and pixels[..., 1].max() == 0
    with image.open(io.BytesIO(media["batch@3.png"])) as grid:
        assert grid.size == (12, 4)  # add_images tiles its batch into one picture
    with image.open(io.BytesIO(media["clip@3.gif"])) as clip:
        assert (clip.format, clip.n_frames, clip.size) == ("GIF", 2, (4, 4))
    with wave.open(io.BytesIO(media["speech@3.wav"])) as sound:
        assert (sound.getframerate(), sound.getnframes(), sound.getnchannels()) == (8000, 800, 1)
        samples = np.frombuffer(sound.readframes(800), dtype="<i2")
    assert np.abs(samples - np.sin(np.arange(800) / 8.0) * 0.5 * 32767).max() <= 1
    with open_lab(lab) as opened:
        assert opened.metrics.texts(imported["id"]) == {"caption": [(3, "step 3")]}
    listed = TestClient(create_app(lab)).get(f"/api/runs/{imported['id']}/media").json()
    assert [(m["key"], m["step"], m["kind"]) for m in listed["media"]] == [
        ("batch", 3, "image"), ("clip", 3, "image"), ("samples/frame", 3, "image"),
        ("speech", 3, "audio")]


def test_reimporting_media_keeps_one_copy_and_brings_what_is_new(store_target, tmp_path):
    folder = tmp_path / "runs" / "exp"
    _write_media(folder, 0)
    lab = store_target.root  # SQLite, and PostgreSQL
    (first,) = import_tensorboard(tmp_path / "runs", lab).imported
    names = ["batch@0.png", "clip@0.gif", "samples/frame@0.png", "speech@0.wav"]
    assert sorted(_media(lab, first["id"])) == names
    again = import_tensorboard(tmp_path / "runs", lab)
    assert again.skipped[0]["reason"] == "already imported"
    assert sorted(_media(lab, first["id"])) == names
    with open_lab(lab) as opened:  # as an import that kept no media left it
        opened.db.execute("DELETE FROM run_objects WHERE run_id = ?", (first["id"],))
    assert [r["id"] for r in import_tensorboard(tmp_path / "runs", lab).updated] == [first["id"]]
    assert sorted(_media(lab, first["id"])) == names
    _write_media(folder, 1)  # the run went on: a second event file in its folder
    assert [r["id"] for r in import_tensorboard(tmp_path / "runs", lab).updated] == [first["id"]]
    assert sorted(_media(lab, first["id"])) == sorted(
        [*names, "batch@1.png", "clip@1.gif", "samples/frame@1.png", "speech@1.wav"])
