"""What the docs promise is there: ``ConfigError`` where docs/config.md says, and a folder given
as a config is named as a folder."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_config_error_imports_from_stepstone_config() -> None:
    from stepstone.configs import ConfigError
    from stepstone.errors import ConfigError as Same

    assert ConfigError is Same


def test_a_folder_given_as_a_config_is_named_as_a_folder(tmp_path: Path) -> None:
    from stepstone.configs import ConfigError, load_config

    with pytest.raises(ConfigError, match="is a folder; give the path of a file"):
        load_config(tmp_path)
