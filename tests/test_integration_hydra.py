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
