"""Every command documents itself: help that ends with an example, and --json where it reports."""

from __future__ import annotations

import click
import click.testing
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
    text = click.testing.CliRunner().invoke(cli, [*name.split(), "--help"]).output
    assert "Example" in text, f"`stepstone {name} --help` shows no example"
    assert "stepstone " in text.split("Example", 1)[1]
    if "Options:" in text:  # the example comes after the options, where help ends
        assert text.index("Options:") < text.index("Example"), name


@pytest.mark.parametrize("name, command", ALL, ids=[n for n, _ in ALL])
def test_every_command_offers_json_output(name, command):
    if name == "mcp" or name.startswith("import "):
        return  # a protocol server, and commands whose data has its own format
    options = {opt for p in command.params for opt in getattr(p, "opts", [])}
    assert "--json" in options, f"`stepstone {name}` has no --json"


def test_a_busy_port_is_one_error_before_anything_is_served(lab, capfd):
    import socket

    from _cli import cli as run_cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, out, err = run_cli(lab, "ui", "--port", str(port))
    assert code == 2 and f"port {port} on 127.0.0.1 is in use" in err
    assert "dashboard on" not in out and "Errno" not in err + capfd.readouterr().err


def test_export_json_describes_the_file_it_wrote(lab, tmp_path):
    import json

    from _cli import cli as run_cli

    code, out, _ = run_cli(lab, "export", "runs", "--out", str(tmp_path / "r.csv"), "--json")
    assert code == 0 and json.loads(out) == {"what": "runs", "format": "csv", "rows": 0,
                                             "out": str(tmp_path / "r.csv")}
    code, _, err = run_cli(lab, "export", "runs", "--json")
    assert code == 2 and "use --format jsonl" in err
