"""Every command documents itself: help that ends with an example, and --json where it reports."""

from __future__ import annotations

import click
import pytest

from stepstone.cli import COMMANDS, cli


def _commands():
    ctx = click.Context(cli)
    for name in sorted(COMMANDS):
        command = cli.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            for sub in sorted(command.commands):
                yield f"{name} {sub}", command.commands[sub]
        else:
            yield name, command


ALL = list(_commands())


@pytest.mark.parametrize("name, command", ALL, ids=[n for n, _ in ALL])
def test_help_ends_with_an_example(name, command):
    text = command.help or ""
    assert "Example" in text, f"`stepstone {name} --help` shows no example"
    assert "stepstone " in text.split("Example", 1)[1]


@pytest.mark.parametrize("name, command", ALL, ids=[n for n, _ in ALL])
def test_every_command_offers_json_output(name, command):
    if name in {"export", "ui", "mcp", "run"} or name.startswith("import "):
        return  # these write files or serve pages or a protocol; their data has its own format
    options = {opt for p in command.params for opt in getattr(p, "opts", [])}
    assert "--json" in options, f"`stepstone {name}` has no --json"
