"""The tracking commands: init, run, runs, show, status, abandon, export, query."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from stepstone.store import open_lab


@pytest.fixture
def cli(tmp_path):
    env = {**os.environ, "STEPSTONE_LAB": str(tmp_path / ".stepstone")}
    env.pop("STEPSTONE_RUN_ID", None)

    def invoke(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "stepstone", *args], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    invoke("init", str(tmp_path))
    return invoke


def test_run_records_a_script_that_never_imports_stepstone(cli, tmp_path):
    result = cli("run", "--name", "plain", "--json", "--", sys.executable, "-c",
                 "print('hello from the script')")
    record = json.loads(result.stdout.split("\n", 1)[1] if result.stdout.startswith("hello")
                        else result.stdout)
    assert record["status"] == "finished" and record["exit_code"] == 0
    with open_lab(tmp_path / ".stepstone") as lab:
        log = lab.run_object(record["id"], "log", "output.log")
        assert b"hello from the script" in log
        assert lab.runs.get(record["id"]).env["python"]


def test_run_passes_config_to_an_sdk_script_and_records_its_metrics(cli, tmp_path):
    (tmp_path / "base.yaml").write_text("optim:\n  lr: 0.1\nsteps: 3\n")
    (tmp_path / "train.py").write_text(textwrap.dedent("""
        import stepstone
        run = stepstone.init(config={"optim": {"lr": 1.0}, "steps": 1, "extra": True})
        for i in range(run.config["steps"]):
            run.log({"loss": run.config["optim"]["lr"] * (i + 1)})
        run.finish()
    """))
    cli("run", "--name", "cfg", "--config", "base.yaml", "--set", "optim.lr=0.5", "--",
        sys.executable, "train.py")
    with open_lab(tmp_path / ".stepstone") as lab:
        (record,) = lab.runs.list()
        history = lab.metrics.history(record.id)
    assert record.config == {"optim": {"lr": 0.5}, "steps": 3, "extra": True}
    assert history["loss"].values == [0.5, 1.0, 1.5]
    assert record.name == "cfg" and record.code_snapshot


def test_failing_command_is_failed_with_its_exit_code(cli, tmp_path):
    result = cli("run", "--", sys.executable, "-c", "import sys; sys.exit(3)", check=False)
    assert result.returncode == 3
    with open_lab(tmp_path / ".stepstone") as lab:
        (record,) = lab.runs.list()
    assert record.status == "failed" and record.exit_code == 3 and record.reason == "exit code 3"


def test_status_puts_crashed_runs_first_and_abandon_needs_a_reason(cli, tmp_path):
    cli("run", "--", sys.executable, "-c", "import sys; sys.exit(1)", check=False)
    status = json.loads(cli("status", "--json").stdout)
    (stuck,) = status["needs_attention"]
    missing = cli("abandon", stuck["id"], check=False)
    assert missing.returncode == 2 and "--reason" in missing.stderr
    blank = cli("abandon", stuck["id"], "--reason", "  ", check=False)
    assert blank.returncode == 2 and "needs a reason" in blank.stderr
    cli("abandon", stuck["id"], "--reason", "bad seed, rerun planned")
    after = json.loads(cli("status", "--json").stdout)
    assert after["needs_attention"] == []
    again = cli("abandon", stuck["id"], "--reason", "twice", check=False)
    assert again.returncode == 1 and "already abandoned" in again.stderr


def test_runs_filters_and_show(cli, tmp_path):
    cli("run", "--name", "alpha", "--tag", "sweep", "--", sys.executable, "-c", "pass")
    cli("run", "--name", "beta", "--", sys.executable, "-c", "pass")
    tagged = json.loads(cli("runs", "--tag", "sweep", "--json").stdout)
    assert [r["name"] for r in tagged] == ["alpha"]
    shown = json.loads(cli("show", "beta", "--json").stdout)
    assert shown["name"] == "beta" and shown["status"] == "finished"
    assert "beta" in cli("show", "beta").stdout


def test_export_and_query(cli, tmp_path):
    (tmp_path / "t.py").write_text(
        "import stepstone\nr = stepstone.init(config={'lr': 0.1})\n"
        "[r.log({'loss': 1.0 / (i + 1)}) for i in range(4)]\nr.finish()\n")
    cli("run", "--name", "q", "--", sys.executable, "t.py")
    csv_text = cli("export", "runs").stdout
    assert "config.lr" in csv_text.splitlines()[0] and ",0.1," in csv_text
    lines = cli("export", "history", "--format", "jsonl").stdout.strip().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 1, 2, 3]
    out = tmp_path / "runs.parquet"
    cli("export", "runs", "--format", "parquet", "--out", str(out))
    pq = pytest.importorskip("pyarrow.parquet")
    assert pq.read_table(out).num_rows == 1
    history_csv = cli("export", "history", "--format", "csv").stdout.strip().splitlines()
    header = history_csv[0].split(",")
    assert [row.split(",")[header.index("step")] for row in history_csv[1:]] == ["0", "1", "2",
                                                                                "3"]
    cli("export", "history", "--format", "parquet", "--out", str(tmp_path / "h.parquet"))
    table = pq.read_table(tmp_path / "h.parquet").to_pydict()
    assert table["step"] == [0, 1, 2, 3] and table["value"] == [1.0, 0.5, 1 / 3, 0.25]
    rows = json.loads(cli("query", "--sql", "SELECT COUNT(*) AS n, MAX(value) AS top FROM points",
                          "--json").stdout)
    assert rows == [{"n": 4, "top": 1.0}]


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (("show", "nope"), 1, "no run 'nope'"),
        (("query", "--sql", "DELETE FROM runs"), 2, "read-only"),
        (("query", "--sql", "SELECT * FROM nowhere"), 2, "the query failed"),
        (("run", "--config", "missing.yaml", "--", "true"), 2, "missing.yaml"),
        (("run", "--set", "nokey=1", "--", "true"), 2, "+nokey=1"),
        (("export", "runs", "--format", "parquet"), 2, "--out"),
        # each of these ended in "unexpected ... please report it" (issue 17)
        (("export", "runs", "--out", "/nonexistent-dir/runs.csv"), 2, "cannot write"),
        (("export", "runs", "--format", "parquet", "--out", "/nonexistent-dir/r.parquet"), 2,
         "cannot write"),
        (("export", "history", "--format", "jsonl", "--out", "/proc/h.jsonl"), 2,
         "cannot write"),
        (("run", "--set", "lr=!!float x", "--", "true"), 2, "cannot read the value"),
        (("run", "--set", "lr=!!int x", "--", "true"), 2, "cannot read the value"),
        (("run", "--set", "lr=" + "[" * 3000 + "]" * 3000, "--", "true"), 2, "nests too deeply"),
        (("question", "new", "x?", "--rule", "(" * 3000 + "val_loss <= 1" + ")" * 3000), 2,
         "nests too deeply"),
        (("question", "new", "x?", "--rule", "-" * 3000 + "1 <= val_loss"), 2,
         "nests too deeply"),
    ],
    ids=["unknown-run", "write-query", "bad-sql", "missing-config", "unknown-key",
         "parquet-stdout", "export-unwritable-csv", "export-unwritable-parquet",
         "export-unwritable-jsonl", "set-bad-float-tag", "set-bad-int-tag", "set-deep-value",
         "rule-deep-parentheses", "rule-many-signs"],
)
def test_bad_input_gets_one_clear_line_and_changes_nothing(cli, tmp_path, args, code, fragment):
    result = cli(*args, check=False)
    assert result.returncode == code
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    with open_lab(tmp_path / ".stepstone") as lab:
        assert lab.runs.list() == []


def test_no_lab_is_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "STEPSTONE_LAB"}
    result = subprocess.run([sys.executable, "-m", "stepstone", "runs"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "stepstone init" in result.stderr
