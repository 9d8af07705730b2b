"""The noise floor of a baseline: measured from its seeds, stored with the version (SQLite and
PostgreSQL), read back by ``method.evidence.noise_floor``."""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
import uuid

import pytest

from _cli import cli
from stepstone.analysis.noise import NoiseFloor, noise_floor_of
from stepstone.errors import AnalysisError, NotFoundError, UsageError
from stepstone.method import baselines as baseline_rules
from stepstone.method import evidence, noise
from stepstone.store import open_lab
from stepstone.store.lab import Lab


def add_run(lab: Lab, version: str, *, rung: str | None, seed: int, loss: float,
            kind: str = "baseline", status: str = "finished", flops: float = 1e9) -> str:
    run_id = uuid.uuid4().hex[:8]
    now = time.time()
    config = {"seed": seed, **({"rung": rung} if rung else {})}
    lab.runs.create({"id": run_id, "name": f"{kind}-{run_id}", "project": "t", "kind": kind,
                     "status": status, "created_at": now, "ended_at": now + 1,
                     "baseline": version, "seed": seed}, config)
    lab.runs.set_summary(run_id, {"eval/loss": loss, "flops": flops})
    return run_id


def test_noise_floor_of_is_the_sample_sd():
    floor = noise_floor_of("eval/loss", [2.50, 2.52, 2.54], rung="r3", runs=("a", "b", "c"))
    assert floor == NoiseFloor("eval/loss", pytest.approx(0.02), 3, "r3", ("a", "b", "c"))
    assert floor.sd == pytest.approx(statistics.stdev([2.50, 2.52, 2.54]))  # ddof = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        floor.sd = 0.0  # type: ignore[misc]
    assert floor.to_dict()["runs"] == ["a", "b", "c"]


@pytest.mark.parametrize("values", [[], [2.5]])
def test_noise_floor_of_refuses_fewer_than_two_seeds(values):
    with pytest.raises(AnalysisError, match="needs at least 2 seeds; got"):
        noise_floor_of("eval/loss", values)


def test_noise_floor_of_refuses_non_finite_values():
    with pytest.raises(AnalysisError, match="finite"):
        noise_floor_of("eval/loss", [2.5, float("nan")])


def test_measured_floor_is_stored_with_the_version_and_read_back(store_target):
    with open_lab(store_target.location) as lab:
        version = baseline_rules.create(lab, "small", {"seed": 0},
                                        reference_metric="eval/loss").version
        assert evidence.noise_floor(lab, version, "eval/loss") is None
        add_run(lab, version, rung="r1", seed=0, loss=3.0, flops=1e8)
        ids = [add_run(lab, version, rung="r3", seed=s, loss=v, flops=1e9)
               for s, v in ((0, 2.50), (1, 2.52), (2, 2.54))]
        add_run(lab, version, rung="r3", seed=3, loss=9.0, status="crashed")  # not a result
        floor = noise.measure(lab, "small")  # the rung with the most seeds: r3
        assert (floor.metric, floor.n, floor.rung, floor.runs) == ("eval/loss", 3, "r3",
                                                                   tuple(ids))
        assert floor.sd == pytest.approx(0.02)
        assert evidence.noise_floor(lab, version, "eval/loss") == floor
        assert evidence.noise_floor(lab, version, "other") is None
        # a second measurement is kept beside the first; the newest is the one in use
        add_run(lab, version, rung="r3", seed=4, loss=2.60)
        again = noise.measure(lab, version, rung="r3")
        assert again.n == 4 and evidence.noise_floor(lab, version, "eval/loss") == again
        assert lab.db.scalar("SELECT COUNT(*) FROM baseline_noise") == 2
        shown = baseline_rules.describe(lab, baseline_rules.resolve(lab, "small")).noise
        assert [(r.metric, r.n, r.rung) for r in shown] == [("eval/loss", 4, "r3")]
        assert shown[0].measured_at > 0 and shown[0].version == version


def test_record_noise_refuses_an_unknown_version(store_target):
    with open_lab(store_target.location) as lab, pytest.raises(NotFoundError):
        lab.baselines.record_noise("small@2026-01-01", metric="m", sd=0.1, n=2, rung=None,
                                   runs=())


def test_one_seed_is_refused_with_the_command_that_runs_more(lab):
    with open_lab(lab) as opened:
        version = baseline_rules.create(opened, "small", {"seed": 0},
                                        reference_metric="eval/loss").version
        add_run(opened, version, rung="r3", seed=0, loss=2.5)
        with pytest.raises(UsageError, match=r"1 finished seed\(s\) with eval/loss at rung r3"
                                              r".*stepstone baseline noise small --seeds 3 "
                                              r"--rung r3 -- COMMAND"):
            noise.measure(opened, "small")
        assert opened.baselines.noise(version) == []


def test_seeds_to_run_tops_the_rung_up_with_unused_seeds(lab):
    with open_lab(lab) as opened:
        version = baseline_rules.create(opened, "small", {"seed": 0, "d": 1},
                                        reference_metric="eval/loss").version
        add_run(opened, version, rung="r3", seed=0, loss=2.5)
        add_run(opened, version, rung="r3", seed=2, loss=2.5)
        config, seeds = noise.seeds_to_run(opened, version, "eval/loss", "r3", 4)
        assert seeds == [1, 3] and config["rung"] == "r3"
        config, seeds = noise.seeds_to_run(opened, version, "eval/loss", None, 2)
        assert seeds == [0, 1] and config == {"seed": 0, "d": 1}
        with pytest.raises(UsageError, match="no finished run at rung r9 to repeat "
                                             r"\(its rungs: r3\)"):
            noise.seeds_to_run(opened, version, "eval/loss", "r9", 3)
        with pytest.raises(UsageError, match="at least 2 seeds"):
            noise.seeds_to_run(opened, version, "eval/loss", "r3", 1)


# -- `stepstone baseline noise` ----------------------------------------------------------------
TRAIN = """\
import stepstone

stepstone.init()
seed = stepstone.config["seed"]
stepstone.summary["eval/loss"] = 2.5 + 0.01 * seed
stepstone.summary["flops"] = 1e9 * stepstone.config["d"]
stepstone.finish()
"""


def test_baseline_noise_runs_the_missing_seeds_and_shows_the_floor(lab, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text(TRAIN)
    with open_lab(lab) as opened:
        version = baseline_rules.create(opened, "small", {"seed": 0, "d": 1},
                                        reference_metric="eval/loss").version
    code, _out, err = cli(lab, "baseline", "noise", "small")
    assert code != 0 and "0 finished seed(s) with eval/loss" in err
    ladder = ("ladder", "--baseline", "small", "--rungs", "d=1,+rung=r1; d=2,+rung=r2",
              "--", sys.executable, "train.py")
    code, _out, err = cli(lab, *ladder)
    assert code == 0, err
    code, _out, err = cli(lab, "baseline", "noise", "small", "--seeds", "3", "--rung", "r2")
    assert code != 0 and "has 1 finished seed(s) there, not 3" in err
    code, out, err = cli(lab, "baseline", "noise", "small", "--seeds", "3", "--rung", "r2",
                         "--json", "--", sys.executable, "train.py")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["version"], shown["metric"], shown["n"], shown["rung"],
            shown["launched_seeds"]) == (version, "eval/loss", 3, "r2", [1, 2])
    assert shown["sd"] == pytest.approx(0.01)
    with open_lab(lab) as opened:  # the seeds are the baseline's own runs at r2
        runs = opened.runs.list(baseline=version, kind="baseline")
        assert sorted((r.config["rung"], r.seed) for r in runs) == [
            ("r1", 0), ("r2", 0), ("r2", 1), ("r2", 2)]
    code, out, err = cli(lab, "baseline", "show", "small")
    assert code == 0 and "noise floor of eval/loss: sd 0.01 over 3 seeds at rung r2" in out
    code, out, _err = cli(lab, "baseline", "show", "small", "--json")
    assert [(f["metric"], f["n"]) for f in json.loads(out)["noise"]] == [("eval/loss", 3)]
    code, out, err = cli(lab, "baseline", "noise", "small")  # measured again from the seeds
    assert code == 0 and "sd 0.01 over 3 seeds at rung r2" in out, err
