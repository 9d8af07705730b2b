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
