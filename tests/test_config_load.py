"""Loading config files: formats, the YAML dialect, interpolation and every load error."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from stepstone.configs import SUFFIXES, interpolate_config, load_config
from stepstone.errors import ConfigError

EXPECTED = {"model": {"attention": "full", "layers": 4}, "optim": {"lr": 0.001}, "tags": ["a"]}

SOURCES = {
    "yaml": "model:\n  attention: full\n  layers: 4\noptim:\n  lr: 1e-3\ntags: [a]\n",
    "yml": "model: {attention: full, layers: 4}\noptim: {lr: 0.001}\ntags:\n  - a\n",
    "json": '{"model": {"attention": "full", "layers": 4}, "optim": {"lr": 0.001}, "tags": ["a"]}',
    "toml": 'tags = ["a"]\n[model]\nattention = "full"\nlayers = 4\n[optim]\nlr = 1e-3\n',
}


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("ext", sorted(SOURCES), ids=sorted(SOURCES))
def test_every_format_loads_to_the_same_dict(tmp_path: Path, ext: str) -> None:
    assert load_config(write(tmp_path, f"c.{ext}", SOURCES[ext])) == EXPECTED


def test_suffixes_are_the_documented_ones() -> None:
    assert SUFFIXES == {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "c.YAML", "a: 1\n")) == {"a": 1}


def test_path_may_be_a_string(tmp_path: Path) -> None:
    assert load_config(str(write(tmp_path, "c.json", '{"a": 1}'))) == {"a": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v: 1e-3", 0.001),
        ("v: 1.5e+2", 150.0),
        ("v: 3", 3),
        ("v: 2026-11-21", "2026-11-21"),
        ("v: 1:30", "1:30"),
        ("v: 010", "010"),
        ("v: 0x10", 16),
        ("v: true", True),
        ("v: null", None),
        ("v: .inf", float("inf")),
        ("v: small@2026-11-21", "small@2026-11-21"),
    ],
    ids=[
        "float-without-dot",
        "float-with-dot",
        "int",
        "date-stays-string",
        "no-base-60",
        "no-octal",
        "hex",
        "bool",
        "null",
        "inf",
        "baseline-name",
    ],
)
def test_yaml_dialect(tmp_path: Path, text: str, expected: object) -> None:
    assert load_config(write(tmp_path, "c.yaml", text))["v"] == expected


@pytest.mark.parametrize("text", ["", "# only a comment\n"], ids=["empty", "comment"])
def test_empty_yaml_is_an_empty_config(tmp_path: Path, text: str) -> None:
    assert load_config(write(tmp_path, "c.yaml", text)) == {}


def test_toml_dates_become_iso_strings(tmp_path: Path) -> None:
    path = write(tmp_path, "c.toml", "day = 2026-11-21\nat = 2026-11-21T10:00:00\n")
    assert load_config(path) == {"day": "2026-11-21", "at": "2026-11-21T10:00:00"}


def test_interpolation_is_resolved(tmp_path: Path) -> None:
    text = "model:\n  d: 64\n  heads: 4\nhead_dim: ${model.d}\nname: run-${model.heads}\n"
    config = load_config(write(tmp_path, "c.yaml", text))
    assert config == {"model": {"d": 64, "heads": 4}, "head_dim": 64, "name": "run-4"}


def test_interpolation_can_be_kept(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "c.yaml", "a: 1\nb: ${a}\n"), interpolate=False)
    assert config == {"a": 1, "b": "${a}"}


def test_interpolation_in_json_too(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "c.json", '{"a": 2, "b": "${a}"}')) == {"a": 2, "b": 2}


def test_interpolate_config_copies_without_references() -> None:
    base = {"a": {"b": [1]}}
    out = interpolate_config(base)
    assert out == base
    assert out["a"] is not base["a"]
    assert out["a"]["b"] is not base["a"]["b"]


def test_missing_interpolation_target_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "b: ${nope}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"cannot resolve an interpolation in {path}:")
    assert "nope" in message
    assert message.endswith("check that the key it points to exists")


def test_interpolation_without_omegaconf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "omegaconf", None)
    path = write(tmp_path, "c.yaml", "a: 1\nb: ${a}\n")
    with pytest.raises(ConfigError, match=r"install it with pip install 'stepstone\[config\]'"):
        load_config(path)
    assert load_config(write(tmp_path, "d.yaml", "a: 1\n")) == {"a": 1}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.ini", "a=1", "unknown extension '.ini'; use .yaml, .yml, .json or .toml"),
        ("config", "a: 1", "unknown extension '(none)'; use .yaml, .yml, .json or .toml"),
        ("c.yaml", "a: [1, 2\nb: 3\n", "cannot parse YAML config {path}: "),
        ("c.yaml", "a: 1\n b: 2\n", "mapping values are not allowed here at line 2, column 3"),
        (
            "c.json",
            '{"a": 1,\n "b": }',
            "cannot parse JSON config {path}: Expecting value at line 2",
        ),
        ("c.toml", "a = 1\nb = \n", "cannot parse TOML config {path}: Invalid value (at line 2"),
        ("c.yaml", "- 1\n- 2\n", "holds a list at the top level; a config must be a mapping"),
        ("c.json", '"text"', "holds a string at the top level"),
        ("c.json", "null", "holds a null at the top level"),
        ("c.yaml", "1: a\n", "config key 1 is not a string (int); quote it"),
        ("c.yaml", "m:\n  a.b: 1\n", "config key 'a.b' under m is empty or contains '.'"),
    ],
    ids=[
        "unknown-extension",
        "no-extension",
        "yaml-syntax",
        "yaml-line-and-column",
        "json-syntax",
        "toml-syntax",
        "top-level-list",
        "top-level-string",
        "top-level-null",
        "non-string-key",
        "dotted-key",
    ],
)
def test_load_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message.format(path=path) in str(err.value)


def _alias_bomb(levels: int) -> str:
    """Nested aliases: ``levels`` lines of nine aliases each expand to 9**levels strings."""
    names = "abcdefghi"
    lines = [f'{names[0]}: &{names[0]} [{", ".join(["lol"] * 9)}]']
    for prev, name in itertools.pairwise(names[:levels]):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [6, 9], ids=["half-a-million", "billion-laughs"])
def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path, levels: int) -> None:
    """A few hundred bytes of nested aliases stored ~590k keys (6 levels) or ran past 40 s
    and 3 GB (9 levels): refused by the expansion limit, with the reason."""
    path = write(tmp_path, "bomb.yaml", _alias_bomb(levels))
    assert path.stat().st_size < 400
    with pytest.raises(ConfigError, match="expands to more than 100,000 values"):
        load_config(path)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("self.yaml", "a: &a [1, *a]\n", "alias refers to the node that holds it"),
    ("deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n", "nests too deeply"),
    ("deep.json", '{"a": ' * 100_000 + "1" + "}" * 100_000, "nests too deeply"),
    ("levels.yaml", "a: " + "[" * 150 + "]" * 150 + "\n", "or 100 levels"),
    ("tag.yaml", "lr: !!float x\n", "fix or quote the tagged value"),
], ids=["alias-in-itself", "deep-yaml", "deep-json", "over-100-levels", "bad-tagged-value"])
def test_endless_and_deep_configs_get_one_error(tmp_path: Path, name: str, text: str,
                                                 message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, name, text))


def test_aliases_within_the_limit_still_load(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "ok.yaml", "base: &b {lr: 0.1}\nrun: *b\n"))
    assert config == {"base": {"lr": 0.1}, "run": {"lr": 0.1}}


def test_yaml_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError, match=r"at line \d+, column \d+$"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"config file not found: {path}; check the path"


def test_folder_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "c.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError) as err:
        load_config(folder)
    assert str(err.value) == f"config path {folder} is a folder; give the path of a file"


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", b"a: \xff\xfe\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"config {path} is not UTF-8 text; save it as UTF-8"


def test_unsafe_yaml_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="cannot parse YAML config"):
        load_config(path)
