"""The analysis package's public surface, purity and result shape."""

from __future__ import annotations

import ast
import dataclasses
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import stepstone.analysis as analysis
from stepstone.analysis import _common

PACKAGE = pathlib.Path(analysis.__file__).parent

EXPECTED = {
    "ScalingFit",
    "ScalingForm",
    "average_evals",
    "bootstrap_ci",
    "checkpoint_divergences",
    "compare_buckets",
    "compare_precisions",
    "count_parameters",
    "device_peak",
    "efficiency_gain",
    "estimate_flops",
    "estimate_step_cost",
    "fit_scaling_law",
    "flops_6nd",
    "flops_kaplan",
    "gain_curve",
    "loss_eval_divergence",
    "mfu",
    "minimum_detectable_effect",
    "paired_comparison",
    "pareto_front",
    "parse_constraint",
    "pass_at_k",
    "pass_at_k_curve",
    "pass_at_k_problems",
    "precision_report",
    "register_form",
    "roofline",
    "seed_variance",
    "stratify",
    "testtime_curve",
}


def test_exported_names_are_exactly_the_intended_ones() -> None:
    assert set(analysis.__all__) == EXPECTED
    assert sorted(analysis.__all__) == analysis.__all__
    for name in analysis.__all__:
        assert getattr(analysis, name).__doc__, name


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_modules_are_pure(path: pathlib.Path) -> None:
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path.name} needs a module docstring"
    banned = ("stepstone.store", "stepstone.sdk", "stepstone.cli", "torch")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("print", "open"), f"{path.name} does I/O"
            continue
        else:
            continue
        for name in names:
            assert not name.startswith(banned), f"{path.name} imports {name}"


def test_import_does_not_pull_torch() -> None:
    code = "import sys, stepstone.analysis; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PACKAGE.parents[1])},
    )
    assert out.stdout.strip() == "False"


@dataclasses.dataclass(frozen=True)
class Inner(_common.ResultMixin):
    x: float


@dataclasses.dataclass(frozen=True)
class Outer(_common.ResultMixin):
    items: tuple[Inner, ...]
    table: dict[str, float]
    arr: np.ndarray = dataclasses.field(compare=False)
    hidden: int = dataclasses.field(default=0, metadata=_common.INTERNAL)


def test_to_dict_is_plain_json() -> None:
    obj = Outer((Inner(1.0), Inner(float("inf"))), {"a": np.float64(2.0)}, np.array([1, 2]))
    out = obj.to_dict()
    assert out == {"items": [{"x": 1.0}, {"x": None}], "table": {"a": 2.0}, "arr": [1, 2]}
    json.dumps(out, allow_nan=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.table = {}  # type: ignore[misc]
