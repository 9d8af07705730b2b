"""Make every ``import wandb`` of a process (and of the processes it starts) resolve to
stepstone, without editing code.

The folder :data:`SHIM` holds a ``wandb`` package whose modules re-export
:mod:`stepstone.integrations.wandb_compat`, and a ``wandb`` distribution record
(``wandb-<version>+stepstone.dist-info``) for libraries that check the installed wandb's
version (Lightning asks for ``wandb>=0.12.10``). Put first on ``PYTHONPATH``, it is found
before a wandb installed in the environment, which stays untouched for everything else
(``stepstone import wandb`` reads with the real one). Three one-liners::

    stepstone run --as-wandb -- python train.py --lr 3e-4
    python -m stepstone.integrations.as_wandb train.py --lr 3e-4
    export PYTHONPATH="$(python -m stepstone.integrations.as_wandb --path)"

(the last keeps what ``PYTHONPATH`` held, after the shim).
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

SHIM = Path(__file__).resolve().with_name("wandb_shim")


def python_path(env: Mapping[str, str] | None = None) -> str:
    """``PYTHONPATH`` with the shim first (``env`` defaults to this process's)."""
    current = (os.environ if env is None else env).get("PYTHONPATH", "")
    parts = [p for p in current.split(os.pathsep) if p and Path(p).resolve() != SHIM]
    return os.pathsep.join([str(SHIM), *parts])


def activate() -> None:
    """Resolve ``import wandb`` to stepstone in this process and the ones it starts. Must
    come before anything imports the real wandb."""
    real = sys.modules.get("wandb")
    if real is not None and not str(getattr(real, "__file__", "")).startswith(str(SHIM)):
        raise SystemExit("stepstone: the real wandb is already imported in this process; "
                         "turn the alias on before anything imports wandb (e.g. `stepstone "
                         "run --as-wandb -- python train.py`)")
    if str(SHIM) not in sys.path:
        sys.path.insert(0, str(SHIM))
    os.environ["PYTHONPATH"] = python_path()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m stepstone.integrations.as_wandb [--path | SCRIPT ARGS | -m MODULE ARGS]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--path"]:
        print(python_path())
        return
    if not args or args[0] in ("-h", "--help") or (args[0] == "-m" and len(args) < 2):
        print(__doc__, file=sys.stderr)
        raise SystemExit(0 if args[:1] in (["-h"], ["--help"]) else 2)
    if args[0] == "-m":
        activate()
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        return
    script = Path(args[0])
    if not script.is_file():
        raise SystemExit(f"stepstone: {script} is not a file: give the script to run, "
                         "e.g. `python -m stepstone.integrations.as_wandb train.py`")
    activate()
    sys.argv = [str(script), *args[1:]]
    sys.path[0:0] = [str(script.resolve().parent)]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
