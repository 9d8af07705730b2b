"""The smoke run: the tiny form of a run, end to end, before the real one is launched.

``stepstone run --smoke`` and ``stepstone ladder/sweep --smoke`` run it first; a smoke run
that does not finish stops the launch. It is a run like any other (kind ``smoke``, its
result page in the notebook), never a rung of a plan.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from stepstone.display import terminal_safe
from stepstone.errors import MethodError
from stepstone.launch.process import LaunchSpec, run_attached
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord

SMOKE_ENV = "STEPSTONE_SMOKE"


def smoke_spec(spec: LaunchSpec) -> LaunchSpec:
    """The tiny form of ``spec``: kind smoke, ``smoke: true`` and STEPSTONE_SMOKE=1."""
    return replace(spec, kind="smoke", name=f"{spec.name}-smoke" if spec.name else None,
                   config={**dict(spec.config), "smoke": True},
                   env={**dict(spec.env), SMOKE_ENV: "1"}, run_id=None)


def run_smoke(lab: Lab, spec: LaunchSpec, *, echo: bool = True) -> RunRecord:
    """Run the smoke form of ``spec`` end to end; a failure stops the launch (MethodError)."""
    record = run_attached(lab, smoke_spec(spec), echo=echo)
    if record.status != "finished":
        raise MethodError(f"the smoke run {record.id} {record.status}"
                          + (f" ({record.reason})" if record.reason else "")
                          + ": the real run was not launched")
    if echo:
        print(terminal_safe(f"smoke run {record.id} ({record.name}) finished"), file=sys.stderr)
    return record
