"""The ``stepstone`` command line.

Commands load lazily (``COMMANDS`` maps a name to ``module:attribute``) so that
``stepstone --help`` and the tracking commands never import the analysis or web
stacks. Library errors become one line on stderr and exit code 1 (2 for usage);
nothing prints a traceback unless ``STEPSTONE_DEBUG=1``. The day's first command asks for
the review of an earlier day's plan (:func:`ask_for_review`).
"""

from __future__ import annotations

import importlib
import inspect
import io
import os
import sys
from typing import Any

import click

from stepstone import __version__
from stepstone.cli.common import echo
from stepstone.errors import StepstoneError, UsageError

COMMANDS: dict[str, str] = {
    "init": "stepstone.cli.lab:init_cmd",
    "run": "stepstone.cli.run:run_cmd",
    "runs": "stepstone.cli.runs:runs_cmd",
    "show": "stepstone.cli.runs:show_cmd",
    "digest": "stepstone.cli.runs:digest_cmd",
    "watch": "stepstone.cli.runs:watch_cmd",
    "status": "stepstone.cli.runs:status_cmd",
    "abandon": "stepstone.cli.runs:abandon_cmd",
    "export": "stepstone.cli.data:export_cmd",
    "query": "stepstone.cli.data:query_cmd",
    "sweep": "stepstone.cli.launch:sweep_cmd",
    "ladder": "stepstone.cli.launch:ladder_cmd",
    "cancel": "stepstone.cli.launch:cancel_cmd",
    "plans": "stepstone.cli.launch:plans_cmd",
    "migrate": "stepstone.cli.store:migrate_cmd",
    "doctor": "stepstone.cli.repair:doctor_cmd",
    "recover": "stepstone.cli.repair:recover_cmd",
    "sync": "stepstone.cli.store:sync_cmd",
    "import": "stepstone.cli.imports:import_group",
    "ui": "stepstone.cli.ui:ui_cmd",
    "mcp": "stepstone.cli.mcp:mcp_cmd",
    "idea": "stepstone.cli.method:idea_group",
    "question": "stepstone.cli.method:question_group",
    "baseline": "stepstone.cli.method:baseline_group",
    "plan": "stepstone.cli.method:plan_cmd",
    "decide": "stepstone.cli.method:decide_cmd",
    "note": "stepstone.cli.method:note_cmd",
    "plan-day": "stepstone.cli.method:plan_day_cmd",
    "notebook": "stepstone.cli.method:notebook_group",
    "fit": "stepstone.cli.scaling:fit_cmd",
    "gain": "stepstone.cli.scaling:gain_cmd",
    "compare": "stepstone.cli.compare:compare_cmd",
    "stratify": "stepstone.cli.compare:stratify_cmd",
    "pareto": "stepstone.cli.pareto:pareto_cmd",
    "precision": "stepstone.cli.precision:precision_cmd",
    "suite": "stepstone.cli.suites:suite_group",
    "headroom": "stepstone.cli.headroom:headroom_cmd",
    "curve": "stepstone.cli.curves:curve_cmd",
    "report": "stepstone.cli.report:report_cmd",
    "demo": "stepstone.cli.demo:demo_cmd",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return examples_last(command)


def examples_last(command: click.Command) -> click.Command:
    """Show a command's "Example:" block after its options (as its epilog), for it and
    every subcommand of a group."""
    help_text = inspect.cleandoc(command.help or "")
    head, sep, example = help_text.partition("\b\nExample")
    if sep and command.epilog is None:
        command.help, command.epilog = head.rstrip(), "\b\nExample" + example
    for sub in getattr(command, "commands", {}).values():
        examples_last(sub)
    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stepstone")
def cli() -> None:
    """stepstone: track ML runs fast, and answer research questions with them.

    \b
    Example:
      stepstone init
      stepstone run --name first -- python train.py
      stepstone status
    """


REVIEW_MARK = "review-asked"
"""In the lab folder: the day the first command last looked for a plan to review."""
_NO_REVIEW = {"init", "status"}  # no lab yet; status shows the pending review itself
_NO_REVIEW_OPTIONS = {"-h", "--help", "--version", "--json", "--review"}


def ask_for_review(args: list[str]) -> None:
    """At the day's first command, one line on stderr when an earlier day's plan has no
    review yet (the notebook's ``pending_review``). Never in the way: nothing for
    ``--help``, ``--json`` output, ``init``, ``status`` or the review itself, and nothing
    when there is no lab; the lab is looked at once a day, read-only."""
    words = args[: args.index("--")] if "--" in args else args
    if (not words or words[0] not in COMMANDS or words[0] in _NO_REVIEW
            or _NO_REVIEW_OPTIONS & set(words)):
        return
    explicit = next((w.split("=", 1)[1] for w in words if w.startswith("--lab=")), None)
    if "--lab" in words[:-1]:
        explicit = words[words.index("--lab") + 1]
    from stepstone.display import day
    from stepstone.method.notebook import pending_review
    from stepstone.store.lab import find_store, open_lab

    today = day()
    try:  # a hint must never stop the command it precedes
        target = find_store(explicit)
        if target.root is None:
            return
        mark = target.root / REVIEW_MARK
        if mark.exists() and mark.read_text(encoding="utf-8").strip() == today:
            return
        with open_lab(explicit, readonly=True) as opened:
            pending = pending_review(opened)
        mark.write_text(today + "\n", encoding="utf-8")  # looked: not again today
    except Exception:  # no lab, a store that is down, a folder we cannot write: no hint
        if os.environ.get("STEPSTONE_DEBUG"):
            raise
        return
    if pending:
        echo(pending.prompt, err=True)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: run the CLI, turning library errors into one line."""
    try:
        ask_for_review(list(sys.argv[1:] if argv is None else argv))
        return cli.main(args=argv, prog_name="stepstone", standalone_mode=False)
    except click.exceptions.Abort as exc:  # click turns Ctrl-C into Abort: keep its 130
        interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
        echo("Interrupted." if interrupted else "Aborted.", err=True)
        sys.exit(130 if interrupted else 1)
    except click.ClickException as exc:  # its message may quote what was typed
        shown = io.StringIO()
        exc.show(file=shown)
        echo(shown.getvalue().rstrip("\n"), err=True)
        sys.exit(exc.exit_code)
    except UsageError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(2)
    except StepstoneError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: never a traceback
        if os.environ.get("STEPSTONE_DEBUG"):
            raise
        echo(
            f"error: unexpected {type(exc).__name__}: {exc} "
            "(set STEPSTONE_DEBUG=1 to see the traceback, and please report it)",
            err=True,
        )
        sys.exit(1)
