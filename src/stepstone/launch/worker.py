"""``python -m stepstone.launch.worker JOB_JSON``: run one attempt of a planned run.

The local executor starts one of these per run, so each run has a process of its
own whose pid is on the run's row: signalling it (``stepstone cancel``) stops the
command it runs, and it records how the run ended. The command is tied to it: should
the worker die, even by SIGKILL, the command gets SIGTERM (see
:mod:`stepstone.launch.process`), so no orphan keeps running and logging.
"""

from __future__ import annotations

import json
import sys

from stepstone.launch.runner import RungJob, execute_rung


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m stepstone.launch.worker JOB_JSON", file=sys.stderr)
        return 2
    job = RungJob(**json.loads(args[0]))
    print(execute_rung(job))
    return 0


if __name__ == "__main__":
    sys.exit(main())
