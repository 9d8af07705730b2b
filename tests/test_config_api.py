"""The public surface of stepstone.config: exactly the intended names, loaded lazily."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

# `stepstone.config` the attribute is the SDK's run config; the package is in sys.modules
config_package = importlib.import_module("stepstone.config")

EXPORTS = {
    "DEFAULT_ALLOWED_KEYS",
    "SUFFIXES",
    "ConfigDiff",
    "ConfigError",
    "DiffEntry",
    "Override",
    "VerifyResult",
    "apply_override",
    "config_hash",
    "diff",
    "flatten",
    "format_value",
    "interpolate_config",
    "load_config",
    "parse_override",
    "parse_value",
    "resolve",
    "unflatten",
    "verify",
}


def test_exported_names() -> None:
    assert set(config_package.__all__) == EXPORTS
    assert set(dir(config_package)) >= EXPORTS


@pytest.mark.parametrize("name", sorted(EXPORTS), ids=sorted(EXPORTS))
def test_every_export_resolves_to_the_object_not_a_module(name: str) -> None:
    value = getattr(config_package, name)
    assert type(value).__name__ != "module"
    # defined in the package's own modules, or its error in the project's error tree
    assert getattr(value, "__module__", "stepstone.config._").startswith(
        ("stepstone.config._", "stepstone.errors"))


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"module 'stepstone\.config' has no attribute 'nope'"):
        config_package.nope  # noqa: B018


def test_package_docstring_example_runs() -> None:
    assert doctest.testmod(config_package).failed == 0  # type: ignore[arg-type]


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_importing_the_package_loads_no_part_of_it() -> None:
    code = (
        "import sys, stepstone.config\n"
        "print(sorted(m for m in sys.modules if m.startswith('stepstone.config.')))"
    )
    assert run_python(code) == "[]"


def test_sdk_config_object_survives_importing_the_package() -> None:
    code = "import stepstone\nimport stepstone.config\nprint(type(stepstone.config).__name__)"
    assert run_python(code) == "Config"
