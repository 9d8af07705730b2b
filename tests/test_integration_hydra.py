"""Hydra and OmegaConf: a tiny Hydra app records its composed config and its overrides."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

omegaconf = pytest.importorskip("omegaconf")

import stepstone  # noqa: E402
from stepstone.integrations import hydra as hydra_integration  # noqa: E402
from stepstone.store import init_lab, open_lab  # noqa: E402

APP = textwrap.dedent("""
    import os

    import hydra

    from stepstone.integrations.hydra import init


    @hydra.main(version_base=None, config_path="conf", config_name="config")
    def main(cfg):
        run = init(cfg, project="hy", lab=os.environ["LAB"])
        run.log({"loss": 0.5})
        print("RUN", run.id)
        run.finish()


    if __name__ == "__main__":
        main()
""")


def _write_app(root):  # type: ignore[no-untyped-def]
    (root / "conf" / "optim").mkdir(parents=True)
    (root / "conf" / "config.yaml").write_text(
        "defaults:\n  - optim: adam\n  - _self_\n"
        "model:\n  attention: full\n  layers: 2\n  width: ${model.layers}\n"
    )
    (root / "conf" / "optim" / "adam.yaml").write_text("name: adam\nlr: 0.001\n")
    (root / "conf" / "optim" / "sgd.yaml").write_text("name: sgd\nlr: 0.1\n")
    (root / "app.py").write_text(APP)


def test_a_hydra_app_records_the_composed_config_and_the_overrides(tmp_path) -> None:
    pytest.importorskip("hydra")
    lab = init_lab(tmp_path / "lab")
    _write_app(tmp_path)
    out = tmp_path / "outputs"
    proc = subprocess.run(
        [sys.executable, "app.py", "model.attention=sliding", "optim=sgd", "+seed=3",
         f"hydra.run.dir={out}"],
        cwd=tmp_path, env={**os.environ, "LAB": str(lab)}, capture_output=True, text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split("RUN", 1)[1].split()[0]
    with open_lab(lab) as opened:
        record = opened.runs.get(run_id)
    config = record.config
    assert record.status == "finished"
    assert config["model"] == {"attention": "sliding", "layers": 2, "width": 2}
    assert config["optim"] == {"name": "sgd", "lr": 0.1}
    assert config["seed"] == 3 and record.seed == 3
    hydra = config["hydra"]
    assert hydra["overrides"] == ["model.attention=sliding", "optim=sgd", "+seed=3"]
    assert hydra["choices"] == {"optim": "sgd"}
    assert hydra["config_name"] == "config" and hydra["job_name"] == "app"
    assert hydra["output_dir"] == str(out)
    assert f"hydra.run.dir={out}" in hydra["hydra_overrides"]


def test_a_hydra_app_launched_with_set_is_warned_that_it_trains_on_its_own_config(
        tmp_path) -> None:
    pytest.importorskip("hydra")
    lab = init_lab(tmp_path / "lab")
    _write_app(tmp_path)
    env = {**os.environ, "LAB": str(lab)}
    env.pop("STEPSTONE_RUN_ID", None)

    def launch(*args: str) -> dict:
        proc = subprocess.run([sys.executable, "-m", "stepstone", "run", "--lab", str(lab), *args,
                               f"hydra.run.dir={tmp_path / 'out'}"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        with open_lab(lab) as opened:
            (record,) = [r for r in opened.runs.list() if r.id not in seen]
        seen.add(record.id)
        return {"notes": record.capture_notes or [], "config": record.config}

    seen: set[str] = set()
    wrong = launch("--set", "+model.layers=4", "--", sys.executable, "app.py")
    (note,) = [n for n in wrong["notes"] if "Hydra app" in n]
    assert "model.layers=2 (launcher: 4)" in note and "as arguments" in note
    right = launch("--", sys.executable, "app.py", "model.layers=4")
    assert not [n for n in right["notes"] if "Hydra app" in n]
    assert right["config"]["model"]["layers"] == 4


def test_an_omegaconf_config_is_recorded_resolved_and_record_is_a_noop_outside_hydra(
    tmp_path,
) -> None:
    lab = init_lab(tmp_path / "lab")
    cfg = omegaconf.OmegaConf.create({"model": {"layers": 4, "width": "${model.layers}"}})
    run = hydra_integration.init(cfg, project="oc", lab=lab)
    assert hydra_integration.record(run) is None
    run.finish()
    with open_lab(lab) as opened:
        config = opened.runs.get(run.id).config
    assert config == {"model": {"layers": 4, "width": 4}}
    assert stepstone.run is None


CHDIR_APP = textwrap.dedent("""
    import hydra

    import stepstone


    @hydra.main(version_base=None, config_path="conf", config_name="config")
    def main(cfg):
        run = stepstone.init(project="hy", config=cfg, system_metrics=False)
        run.log({"loss": 0.5})
        print("RUN", run.id)
        run.finish()


    if __name__ == "__main__":
        main()
""")


def test_a_hydra_app_that_changes_directory_finds_its_lab_and_snapshots_its_code(
        tmp_path) -> None:
    """hydra.job.chdir=True (the default before Hydra 1.2) moves the app into
    outputs/<date>/<time>: the lab and the code snapshot still come from where it started."""
    pytest.importorskip("hydra")
    app = tmp_path / "proj"
    app.mkdir()
    _write_app(app)
    (app / "app.py").write_text(CHDIR_APP)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("STEPSTONE_") and k != "LAB"}
    runs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "app.py", "hydra.job.chdir=True"], cwd=app,
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        runs.append(proc.stdout.split("RUN", 1)[1].split()[0])
    assert (app / ".stepstone").is_dir()  # one lab, where the app was started
    assert list((app / "outputs").rglob(".stepstone")) == []
    with open_lab(app / ".stepstone") as opened:
        assert {r.id for r in opened.runs.list()} == set(runs)
        record = opened.runs.get(runs[0])
        files = opened.snapshot_manifest(record.code_snapshot)["files"]
    assert record.cwd == str(app)
    assert {"app.py", "conf/config.yaml", "conf/optim/sgd.yaml"} <= set(files)
    assert not any(name.endswith("app.log") for name in files), sorted(files)
