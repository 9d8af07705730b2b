"""The byte-level LM task: the corpus, its split and fingerprint, and a short run in a lab."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from _tasks_helpers import train_in_lab  # noqa: E402
from stepstone.tasks.bytelm import ByteLMConfig, eval_windows, position_bucket, train  # noqa: E402
from stepstone.tasks.common import MemoryRun  # noqa: E402
from stepstone.tasks.corpus import (  # noqa: E402
    STDLIB_FILES,
    DataLeakError,
    Document,
    check_no_leak,
    goes_to_eval,
    load_corpus,
    split_documents,
)


@pytest.fixture(autouse=True)
def _no_smoke_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No smoke mode from the environment (conftest.py already clears the lab variables)."""
    monkeypatch.delenv("STEPSTONE_SMOKE", raising=False)


def doc(path: str, text: str) -> Document:
    import hashlib

    data = text.encode()
    return Document(path, data, hashlib.sha256(data).hexdigest())


def tiny(**overrides: object) -> ByteLMConfig:
    base: dict[str, object] = dict(
        seq_len=32, d_model=16, n_heads=2, mlp_ratio=2, steps=4, batch_size=4, eval_windows=6,
        eval_every=2, log_every=1, warmup_steps=2,
    )  # fmt: skip
    base.update(overrides)
    return ByteLMConfig(**base)  # type: ignore[arg-type]


def test_the_stdlib_corpus_is_split_by_file_without_leaks() -> None:
    corpus = load_corpus()
    assert list(STDLIB_FILES) == sorted(STDLIB_FILES)
    assert not corpus.missing  # every selected file exists on this Python
    train_paths = {d.path for d in corpus.train}
    eval_paths = {d.path for d in corpus.eval}
    assert train_paths.isdisjoint(eval_paths)
    assert train_paths | eval_paths == set(STDLIB_FILES)
    assert 0.05 < len(eval_paths) / len(STDLIB_FILES) < 0.4
    assert all(goes_to_eval(p, 0.2) for p in eval_paths)
    manifest = corpus.manifest()
    assert manifest["data/fingerprint"] == load_corpus().fingerprint  # stable
    assert len(str(manifest["data/fingerprint"])) == 64
    assert manifest["data/eval_files"] == len(eval_paths)


def test_a_folder_corpus_drops_duplicates_and_the_split_follows_the_path(tmp_path: Path) -> None:
    for i in range(12):
        (tmp_path / f"f{i:02d}.txt").write_text(f"document number {i}\n" * 20)
    (tmp_path / "copy.txt").write_text("document number 3\n" * 20)  # same content as f03
    (tmp_path / ".hidden").write_text("skip me")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01binary")
    corpus = load_corpus(str(tmp_path), eval_fraction=0.3)
    paths = {d.path for d in corpus.train} | {d.path for d in corpus.eval}
    assert corpus.duplicates == ("f03.txt",)  # "copy.txt" sorts first and is kept
    assert paths == {"copy.txt"} | {f"f{i:02d}.txt" for i in range(12) if i != 3}
    assert corpus.eval and corpus.train
    # adding a file moves no other file across the split
    (tmp_path / "new.txt").write_text("a new document\n" * 20)
    again = load_corpus(str(tmp_path), eval_fraction=0.3)
    assert {d.path for d in corpus.eval} <= {d.path for d in again.eval}
    assert again.fingerprint != corpus.fingerprint
    with pytest.raises(FileNotFoundError):
        load_corpus(str(tmp_path / "nope"))


def test_a_leaking_split_is_refused() -> None:
    a, b, c = doc("a.py", "x = 1\n"), doc("b.py", "y = 2\n"), doc("c.py", "x = 1\n")
    check_no_leak((a,), (b,))
    with pytest.raises(DataLeakError, match=r"a\.py"):
        check_no_leak((a, b), (a,))  # same document
    with pytest.raises(DataLeakError, match=r"c\.py"):
        check_no_leak((a,), (c,))  # same content under another name
    _, eval_, dups = split_documents([a, b, c], eval_fraction=0.0)
    assert len(eval_) == 1 and dups == ["c.py"]  # a tiny corpus still gets an eval file
    with pytest.raises(ValueError, match="at least 2"):
        split_documents([a], 0.2)


def test_eval_windows_and_position_buckets() -> None:
    docs = [doc("a.txt", "a" * 100), doc("b.txt", "b" * 40), doc("c.txt", "short")]
    windows = eval_windows(docs, seq_len=16, count=5)
    assert [(f, o) for f, o, _ in windows] == [
        ("a.txt", 0), ("b.txt", 0), ("a.txt", 16), ("b.txt", 16), ("a.txt", 32),
    ]  # fmt: skip
    assert all(w.shape == (17,) for _, _, w in windows)
    assert [position_bucket(p) for p in (0, 7, 8, 31, 32, 127, 5000)] == [
        "0-7", "0-7", "8-31", "8-31", "32-127", "32-127", ">=2048",
    ]  # fmt: skip


def test_a_few_steps_land_in_the_lab(tmp_path: Path) -> None:
    result, record, history, records = train_in_lab(train, tiny(), "bytelm", tmp_path)
    assert record.status == "finished"
    summary = record.summary
    assert summary["tokens"] == 4 * 4 * 32 == result["tokens"]
    cfg = tiny()
    assert summary["flops_method"] == "kaplan"
    assert summary["flops"] == pytest.approx(
        (6 * summary["n_params_non_embedding"] + 6 * cfg.n_layers * cfg.seq_len * cfg.d_model)
        * summary["tokens"])
    assert summary["n_params"] - summary["n_params_non_embedding"] == 256 * 16
    assert summary["data/fingerprint"] == load_corpus().fingerprint
    assert summary["data/source"].startswith("python-stdlib-")
    assert summary["eval/bpb"] == pytest.approx(summary["eval/loss"] / 0.6931471805599453)
    assert history["train/loss"].steps == [0, 1, 2, 3]
    assert history["eval/loss"].steps == [2, 4]
    # 6 windows x 2 position buckets (0-7, 8-31) of a 32-byte context
    assert len(records) == 12
    assert {r["position_bucket"] for r in records} == {"0-7", "8-31"}
    eval_files = {d.path for d in load_corpus().eval}
    assert {r["file"] for r in records} <= eval_files
    assert all(r["score"] < 0 for r in records)


def test_training_lowers_the_loss() -> None:
    run = MemoryRun()
    result = train(tiny(steps=25, batch_size=8, eval_every=0, lr=1e-2), run=run)
    losses = [v for _, v in run.history["train/loss"]]
    assert sum(losses[-5:]) / 5 < losses[0] - 1.0  # from ~ln 256 = 5.5 toward byte statistics
    assert result["eval/loss"] < 4.5


def test_smoke_mode_from_the_config_and_kshot(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(6):
        (folder / f"n{i}.md").write_text(f"# note {i}\n" + "some words here. " * 30)
    run = MemoryRun()
    result = train(
        tiny(smoke=True, steps=100, corpus_dir=str(folder), kshot_k=4, precision="bf16"), run=run
    )
    assert result["steps"] == 5 and result["smoke"] is True
    assert result["data/source"] == str(folder.resolve())
    assert len(run.evals["eval"]) == 4 * 2


def test_help_shows_plain_text_not_sphinx_markup(capsys: pytest.CaptureFixture[str]) -> None:
    from stepstone.tasks.bytelm import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "stepstone.tasks.corpus.STDLIB_FILES" in out and "(--corpus-dir)" in out
    assert ":data:" not in out and "``" not in out and "directory)::" not in out


def test_a_diverged_run_finishes_with_its_non_finite_values_flagged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result, record, history, records = train_in_lab(
        train, tiny(lr=1e30, grad_clip=0.0, warmup_steps=0), "bytelm", tmp_path)
    assert record.status == "finished"
    assert result["eval/loss"] != result["eval/loss"]  # NaN: the model diverged
    assert history["eval/loss"].steps[-1] == 4  # logged, flagged non-finite by the lab
    assert records == []  # a record of a score alone has nothing left to store
    assert record.summary["eval/nonfinite_scores"] == 12  # 6 windows x 2 position buckets
    assert capsys.readouterr().err.count("non-finite score") == 1
