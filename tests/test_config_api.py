"""The public surface of stepstone.configs: exactly the intended names, and no clash with the
SDK's ``stepstone.config`` object."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

config_package = importlib.import_module("stepstone.configs")

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
    assert getattr(value, "__module__", "stepstone.configs._").startswith(
        ("stepstone.configs._", "stepstone.errors"))


def test_package_docstring_example_runs() -> None:
    assert doctest.testmod(config_package).failed == 0  # type: ignore[arg-type]


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_import_stepstone_loads_no_config_machinery() -> None:
    """The store keeps a run's config with the one flatten (configs._flat) alone: importing
    stepstone loads no loader, override parser or YAML."""
    code = ("import sys, stepstone\nprint(sorted(m for m in sys.modules"
            " if (m.startswith('stepstone.configs.') and m != 'stepstone.configs._flat')"
            " or m in ('yaml', 'omegaconf')))")
    assert run_python(code) == "[]"


def test_sdk_config_object_survives_importing_the_package() -> None:
    for order in ("import stepstone\nimport stepstone.configs", "import stepstone.configs"):
        assert run_python(f"{order}\nimport stepstone\nprint(type(stepstone.config).__name__)") \
            == "Config"
