"""The public surface of ``import stepstone`` is exactly the intended names, and stays light."""

from __future__ import annotations

import subprocess
import sys

import stepstone

EXPORTED = {
    "Api", "Config", "Run", "Summary", "__version__", "config", "finish", "init",
    "lint_precision", "log", "log_curve", "log_eval", "run", "save", "summary",
    # wandb's names a wandb script calls (see docs/tracking.md)
    "Artifact", "Audio", "Histogram", "Image", "Table", "Video", "define_metric", "log_artifact",
    "login", "unwatch", "use_artifact", "watch",
}


def test_exported_names_are_exactly_the_intended_ones():
    assert set(stepstone.__all__) == EXPORTED
    for name in EXPORTED:
        assert hasattr(stepstone, name), name


def test_import_stepstone_loads_no_heavy_library():
    code = ("import sys, stepstone\n"
            "heavy = {'numpy', 'pandas', 'scipy', 'torch', 'fastapi', 'matplotlib', 'yaml'}\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "[]"



def test_import_stepstone_loads_no_store_until_a_run_starts():
    """``import stepstone`` gives the wandb-shaped names and the module-level handles; the
    store, the writer and the session load with the first ``init()`` (or ``stepstone.Run``)."""
    code = ("import sys, stepstone\n"
            "print(sorted(m for m in sys.modules if m.startswith(("
            "'stepstone.store', 'stepstone.sdk.run', 'stepstone.sdk.writer', "
            "'stepstone.sdk.session', 'stepstone.method', 'sqlite3'))))\n"
            "print(stepstone.Run.__module__, type(stepstone.config).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip().splitlines()
    assert out == ["[]", "stepstone.sdk.run Config"]

def test_a_run_start_loads_only_what_a_run_writes_with():
    """What a run's first ``init()`` loads (the session) leaves out the method's repositories
    (a ``Lab`` makes them on first use), the start-up capture (its own thread loads it) and
    the standard library's ``socket``, ``uuid`` and ``subprocess``."""
    code = ("import sys, stepstone.sdk.session\n"
            "print(sorted(m for m in sys.modules if m in ("
            "'stepstone.store.plans', 'stepstone.store.ideas', 'stepstone.store.questions', "
            "'stepstone.store.baselines', 'stepstone.store.notebook', 'stepstone.store.suites', "
            "'stepstone.store.recall', 'stepstone.store.alerts', 'stepstone.sdk.capture', "
            "'socket', 'uuid', 'subprocess')))\n"
            "print('stepstone.store.lab' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip().splitlines()
    assert out == ["[]", "True"]


def test_module_level_handles_follow_the_current_run(tmp_path):
    assert stepstone.run is None
    run = stepstone.init(project="p", dir=tmp_path)
    assert stepstone.run is run and stepstone.config is run.config
    assert stepstone.summary is run.summary
    stepstone.log({"x": 1.0})
    stepstone.finish()
    assert stepstone.run is None and len(stepstone.config) == 0


def test_init_loads_only_the_tracking_side(tmp_path):
    """A run, its result page included, never loads the rule parser, the analysis package
    (numpy, scipy), the dashboard or the report."""
    code = ("import sys, stepstone\n"
            f"stepstone.init(project='p', dir={str(tmp_path)!r}).finish()\n"
            "print(sorted(m for m in sys.modules if m == 'stepstone.analysis' or m.startswith(("
            "'stepstone.method.rules', 'stepstone.analysis.', 'stepstone.web', "
            "'stepstone.report', 'numpy'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "[]"
