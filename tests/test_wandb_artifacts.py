"""Artifacts across runs: one run logs, a later run uses (``wandb.use_artifact``,
``wandb.Api().artifact``), by the lab-wide version rule of :mod:`stepstone.store.artifacts`;
the using run records what it used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import stepstone
from _faults import Proxy
from stepstone.errors import LabError, NotFoundError, UsageError
from stepstone.sdk.run import wait_for_capture
from stepstone.store import init_lab, open_lab

LOG_SCRIPT = textwrap.dedent("""
    import pathlib, sys
    import wandb

    run = wandb.init(project="data", name="make-dataset")
    folder = pathlib.Path("shards")
    (folder / "val").mkdir(parents=True)
    (folder / "train-0.bin").write_bytes(bytes(range(256)) * 4)
    (folder / "val" / "0.bin").write_bytes(b"val")
    pathlib.Path("vocab.json").write_text('{"a": 0}')
    artifact = wandb.Artifact("corpus", type="dataset", description="tiny",
                              metadata={"tokens": 1024})
    artifact.add_file("vocab.json")
    artifact.add_dir(str(folder), name="shards")
    run.log_artifact(artifact, aliases=["clean"])
    print("logged", artifact.version)
    wandb.finish()
""")

USE_SCRIPT = textwrap.dedent("""
    import pathlib
    import wandb

    run = wandb.init(project="train", name="use-dataset")
    artifact = wandb.use_artifact("corpus:latest", type="dataset")
    root = pathlib.Path(artifact.download())
    assert root == pathlib.Path("artifacts", "corpus:v0").resolve(), root
    assert (root / "shards" / "train-0.bin").read_bytes() == bytes(range(256)) * 4
    assert (root / "shards" / "val" / "0.bin").read_bytes() == b"val"
    assert artifact.get_path("vocab.json").download("single") == str(
        pathlib.Path("single", "vocab.json").resolve())
    print(json.dumps({"name": artifact.name, "version": artifact.version,
                      "type": artifact.type, "metadata": artifact.metadata,
                      "aliases": artifact.aliases, "description": artifact.description,
                      "files": [f.path for f in artifact.files()],
                      "vocab": pathlib.Path("single/vocab.json").read_text()}))
    wandb.finish()
""").replace("import pathlib\n", "import json, pathlib\n", 1)


def _as_wandb(script: Path, cwd: Path, lab: Path, *args: str) -> str:
    """Run ``script`` under the wandb alias in a fresh process writing to ``lab``."""
    result = subprocess.run(
        [sys.executable, "-m", "stepstone.integrations.as_wandb", str(script), *args],
        cwd=cwd, env={**os.environ, "STEPSTONE_LAB": str(lab), "WANDB_MODE": "offline"},
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_a_later_run_under_the_wandb_alias_downloads_what_an_earlier_run_logged(tmp_path, lab):
    (tmp_path / "log.py").write_text(LOG_SCRIPT)
    (tmp_path / "use.py").write_text(USE_SCRIPT)
    work = tmp_path / "trainer"  # another folder: nothing is read from the first one's files
    work.mkdir()
    assert "logged v0" in _as_wandb(tmp_path / "log.py", tmp_path, lab)
    used = json.loads(_as_wandb(tmp_path / "use.py", work, lab).splitlines()[-1])
    assert used == {"name": "corpus:v0", "version": "v0", "type": "dataset",
                    "metadata": {"tokens": 1024}, "aliases": ["clean", "latest"],
                    "description": "tiny", "vocab": '{"a": 0}',
                    "files": ["shards/train-0.bin", "shards/val/0.bin", "vocab.json"]}
    api = stepstone.Api(lab=lab)
    maker, user = (api.runs(name=name)[0] for name in ("make-dataset", "use-dataset"))
    (inputs,) = user.used_artifacts()
    assert (inputs.name, inputs.run_id, inputs.type) == ("corpus:v0", maker.id, "dataset")
    assert user.logged_artifacts() == [] and maker.used_artifacts() == []
    assert [a.name for a in maker.logged_artifacts()] == ["corpus:v0"]
    show = subprocess.run([sys.executable, "-m", "stepstone", "show", user.id, "--lab", str(lab)],
                          capture_output=True, text=True, timeout=120)
    assert f"artifacts used: corpus:v0 (dataset, logged by run {maker.id})" in show.stdout
    listed = subprocess.run([sys.executable, "-m", "stepstone", "show", user.id, "--lab",
                             str(lab), "--json"], capture_output=True, text=True, timeout=120)
    assert json.loads(listed.stdout)["artifacts_used"] == [
        {"name": "corpus", "version": "v0", "type": "dataset", "aliases": ["clean", "latest"],
         "run_id": maker.id}]
    api.close()


def _log(lab: Path, project: str, content: bytes, tmp_path: Path,
         aliases: list[str] | None = None) -> tuple[str, str | None]:
    weights = tmp_path / "model.pt"
    weights.write_bytes(content)
    with stepstone.init(project=project, lab=lab) as run:
        artifact = stepstone.Artifact("model", type="model")
        artifact.add_file(weights)
        run.log_artifact(artifact, aliases=aliases)
    return run.id, artifact.version


def test_versions_are_numbered_across_the_lab_and_references_pick_by_the_rule(store_target,
                                                                              tmp_path):
    lab = store_target.root
    logged = [_log(lab, "p", b"zero", tmp_path, ["best"]),
              _log(lab, "p", b"one", tmp_path, ["best", "pruned"]),
              _log(lab, "q", b"two", tmp_path)]
    assert [version for _, version in logged] == ["v0", "v1", "v2"]
    with stepstone.Api(lab=lab) as api:
        def pick(ref: str) -> tuple[str, str | None, bytes]:
            found = api.artifact(ref)
            return found.version, found.run_id, Path(found.file(tmp_path / ref)).read_bytes()

        assert pick("model:v0") == ("v0", logged[0][0], b"zero")
        assert pick("model") == pick("model:latest") == ("v2", logged[2][0], b"two")
        assert pick("model:best") == ("v1", logged[1][0], b"one")  # the newest holder
        assert pick("p/model:latest") == pick("me/p/model:v1") == ("v1", logged[1][0], b"one")
        assert pick("q/model:v2")[0] == "v2"
        assert api.artifact("model:v1").aliases == ["best", "pruned"]
        assert api.artifact("model:v0").aliases == []
    with stepstone.Api(lab=lab, overrides={"project": "p"}) as api:  # wandb's default project
        assert api.artifact("model").version == "v1"
        assert api.artifact("q/model").version == "v2"
    _log(lab, "q", b"three", tmp_path, ["best"])  # the alias moves to the newer version
    with stepstone.Api(lab=lab) as api:
        assert api.artifact("model:best").version == "v3"
        assert api.artifact("p/model:best").version == "v1"
        assert api.artifact("model:v1").aliases == ["pruned"]


def test_versions_numbered_per_run_by_older_labs_read_by_the_same_rule(lab, tmp_path):
    """Before lab-wide numbers, two runs could both hold ``model:v0``: ``v0`` is the first
    logged, ``latest`` the newest, and a new version goes past them all."""
    runs = []
    for versions in ((b"a0", b"a1"), (b"b0",)):
        with stepstone.init(project="p", lab=lab) as run:
            runs.append(run.id)
        with open_lab(lab) as opened:
            for number, content in enumerate(versions):
                digest = opened.put_object(content)
                opened.attach_object(run.id, "artifact", f"model:v{number}/w.bin", digest)
                manifest = {"name": "model", "version": f"v{number}", "type": "model",
                            "aliases": [], "metadata": {}, "references": {}, "description": None,
                            "files": {"w.bin": {"hash": digest, "size": len(content)}}}
                opened.attach_object(run.id, "artifact-manifest", f"model:v{number}",
                                     opened.put_object(json.dumps(manifest).encode()))
    with stepstone.Api(lab=lab) as api:
        assert (api.artifact("model:v0").run_id, api.artifact("model:v1").run_id) == (
            runs[0], runs[0])
        assert api.artifact("model:latest").run_id == runs[1]
        assert Path(api.artifact("model").file(tmp_path / "latest")).read_bytes() == b"b0"
    assert _log(lab, "p", b"new", tmp_path)[1] == "v2"


@pytest.mark.postgres
def test_a_store_outage_numbers_on_from_the_runs_own_versions_and_says_so_once(
        pg_url, tmp_path, capsys):
    proxy = Proxy(pg_url)
    weights = tmp_path / "model.pt"
    versions = []
    try:
        root = init_lab(tmp_path, store=proxy.url, objects=str(tmp_path / "team-objects"))
        run = stepstone.init(project="p", lab=str(root), save_code=False, system_metrics=False)
        for content in (b"zero", b"one", b"two"):
            weights.write_bytes(content)
            artifact = stepstone.Artifact("model", type="model")
            artifact.add_file(weights)
            versions.append(run.log_artifact(artifact).version)
            if content == b"zero":
                run.flush()
                proxy.cut()  # the lab's versions cannot be read from here on
        proxy.heal()
        run.finish()
        wait_for_capture()  # the run's last write, before the proxy goes
        with stepstone.Api(lab=root) as api:
            stored = api.artifact("model:v2").file(tmp_path / "out")
    finally:
        proxy.close()
    assert versions == ["v0", "v1", "v2"] and Path(stored).read_bytes() == b"two"
    assert capsys.readouterr().err.count("could not read the lab's versions") == 1


def test_unknown_names_versions_and_types_are_clear_errors(lab, tmp_path):
    with stepstone.Api(lab=lab) as api, pytest.raises(
            NotFoundError, match=r"no artifact 'model' in this lab .*fetches nothing from "
                                 r"wandb's servers.*no artifacts yet"):
        api.artifact("model")
    _log(lab, "p", b"zero", tmp_path, ["best"])
    _log(lab, "p", b"one", tmp_path)
    with stepstone.Api(lab=lab) as api:
        with pytest.raises(NotFoundError,
                           match=r"no artifact 'modle' in project 'p' of this lab.*it has model"):
            api.artifact("entity/p/modle:v0")
        with pytest.raises(NotFoundError, match="no artifact 'model' in project 'q'"):
            api.artifact("q/model")
        with pytest.raises(NotFoundError, match=r"no version or alias 'v7': it has v0, v1 "
                                                r"\(aliases: best → v0, latest → v1\)"):
            api.artifact("model:v7")
        with pytest.raises(NotFoundError, match="no version or alias 'golden'"):
            api.artifact("model:golden")
        with pytest.raises(UsageError, match="model:v1 is of type 'model', not 'dataset'"):
            api.artifact("model", type="dataset")
        for bad in ("a/b/c/model", "model:", "mo del", "/model"):
            with pytest.raises(UsageError, match="is not an artifact reference"):
                api.artifact(bad)
        one = api.artifact("model:v0")
        with pytest.raises(NotFoundError, match=r"has no file 'x\.pt': it has model\.pt"):
            one.get_path("x.pt")


def test_use_artifact_in_a_run_records_the_input_and_refuses_what_it_cannot_use(lab, tmp_path):
    with stepstone.init(project="p", lab=lab) as maker:
        logged = stepstone.Artifact("model", type="model", metadata={"lr": 0.1})
        (tmp_path / "a.pt").write_bytes(b"a")
        (tmp_path / "b.pt").write_bytes(b"b")
        logged.add_file(tmp_path / "a.pt")
        logged.add_file(tmp_path / "b.pt")
        maker.log_artifact(logged)
    draft = stepstone.Artifact("draft", type="model")
    with stepstone.init(project="p", lab=lab) as user:
        assert user.use_artifact(logged) is logged  # a logged artifact object: as it is
        with pytest.raises(UsageError, match="artifact 'draft' is not logged"):
            user.use_artifact(draft)
        with pytest.raises(UsageError, match="not 'dataset'"):
            user.use_artifact("model", type="dataset")
        with pytest.raises(NotFoundError, match="no artifact 'missing'"):
            stepstone.use_artifact("missing:latest")
        used = stepstone.use_artifact("model:v0")
        with pytest.raises(UsageError, match="has 2 files, not one"):
            used.file()
        assert user.use_artifact(used) is used
    with stepstone.Api(lab=lab) as api:
        assert [(a.name, a.run_id, a.metadata) for a in api.run(user.id).used_artifacts()] == [
            ("model:v0", maker.id, {"lr": 0.1})]
    with pytest.raises(UsageError, match="needs a run"):
        stepstone.use_artifact("model")
    with (stepstone.init(project="p", lab=lab, mode="disabled") as disabled,
          pytest.raises(UsageError, match="this one is disabled")):
        disabled.use_artifact("model")


def test_download_checks_each_file_against_its_hash_and_keeps_what_is_right(lab, tmp_path):
    _log(lab, "p", b"weights", tmp_path)
    with stepstone.Api(lab=lab) as api:
        artifact = api.artifact("model")
        (entry,) = artifact.files()
        folder = tmp_path / "out"
        assert artifact.download(folder) == str(folder)
        assert (folder / "model.pt").read_bytes() == b"weights"
        (folder / "model.pt").write_bytes(b"edited")  # a wrong copy is written again
        artifact.download(folder)
        assert (folder / "model.pt").read_bytes() == b"weights"
        api.lab.objects.path(entry.digest).write_bytes(b"rotted")  # a damaged object
        with pytest.raises(LabError, match="is damaged"):
            artifact.download(tmp_path / "fresh")
        assert not (tmp_path / "fresh" / "model.pt").exists()
        assert list((tmp_path / "fresh").iterdir()) == []  # no half-written file left


def test_an_artifact_with_references_says_they_are_not_fetched(lab, tmp_path):
    (tmp_path / "index.txt").write_text("shards")
    with stepstone.init(project="p", lab=lab) as run:
        artifact = stepstone.Artifact("shards", type="dataset")
        artifact.add_file(tmp_path / "index.txt")
        artifact.add_reference("s3://bucket/shard-0.tar")
        run.log_artifact(artifact)
    with stepstone.Api(lab=lab) as api:
        stored = api.artifact("shards:latest")
        with pytest.raises(UsageError, match=r"references s3://bucket/shard-0\.tar, which "
                                             r"is not in the lab"):
            stored.download(tmp_path / "out")
        root = Path(stored.download(tmp_path / "out", allow_missing_references=True))
    assert [p.name for p in root.iterdir()] == ["index.txt"]
