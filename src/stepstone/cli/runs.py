"""``stepstone runs | show | digest | watch | status | abandon``: look at runs, watch one,
and close unfinished ones."""

from __future__ import annotations

import time
from typing import Any

import click

from stepstone.cli.common import (
    echo,
    json_option,
    lab_option,
    monitor_env,
    monitor_options,
    print_json,
    print_table,
)
from stepstone.display import changes, duration
from stepstone.errors import UsageError
from stepstone.method import evaluator
from stepstone.method import lints as lint_rules
from stepstone.method import runs as run_rules
from stepstone.method import suites as suite_rules
from stepstone.method.schedule import schedule_incomplete
from stepstone.method.status import method_status, status_lines
from stepstone.sdk.system import read_system, split_keys, system_table
from stepstone.store.artifacts import ArtifactVersion
from stepstone.store.lab import open_lab, open_lab_to_read
from stepstone.store.runs import STATUSES, RunRecord
from stepstone.store.target import offline_target, sync_command
from stepstone.store.team import offline_runs, waiting_spools

_COLUMNS = ("id", "name", "project", "status", "kind", "age", "duration", "step", "tags")


def _row(run: RunRecord, now: float) -> dict[str, Any]:
    return {
        "id": run.id, "name": run.name, "project": run.project, "status": run.status,
        "kind": run.kind, "age": f"{duration(now - run.created_at)} ago",
        "duration": duration(run.duration),
        "step": run.last_step, "tags": run.tags, "reason": run.reason,
    }


def run_status(value: str | None) -> str | None:
    """``--status``: a run's status; a planned run's state (pending, queued, cancelled) is
    refused with where to see it."""
    if value is None or value in STATUSES:
        return value
    if value in ("pending", "queued", "cancelled"):
        raise UsageError(f"{value} is the state of a planned run that has no run yet, not a "
                         "run's status: `stepstone plans PLAN` lists a plan's runs and states")
    raise UsageError(f"--status is one of {', '.join(STATUSES)}, not {value!r}")


@click.command("runs")
@click.option("--status", callback=lambda _ctx, _param, value: run_status(value),
              metavar="[" + "|".join(STATUSES) + "]", help="Only runs with this status.")
@click.option("--project", help="Only runs of this project.")
@click.option("--tag", help="Only runs with this tag.")
@click.option("--name", help="Only runs whose name contains this text.")
@click.option("--limit", type=int, default=50, show_default=True, help="At most this many runs.")
@lab_option
@json_option
def runs_cmd(status: str | None, project: str | None, tag: str | None, name: str | None,
             limit: int, lab: str | None, as_json: bool) -> None:
    """List runs, newest first.

    \b
    Example:
      stepstone runs --status crashed
      stepstone runs --project mqar --tag sweep --json
    """
    with open_lab_to_read(lab) as opened:
        opened.runs.reap_crashed()
        records = opened.runs.list(status=status, project=project, tag=tag, name=name,
                                   limit=limit, details=as_json)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    now = time.time()
    print_table([_row(r, now) for r in records], _COLUMNS, title=f"{len(records)} runs")


@click.command("show")
@click.argument("run")
@lab_option
@json_option
def show_cmd(run: str, lab: str | None, as_json: bool) -> None:
    """Show one run: status, config, summary, metrics, code and environment.

    RUN is a run id, a unique id prefix or a unique run name.

    \b
    Example:
      stepstone show 3f9k2a1b
      stepstone show brisk-otter-3f9k --json
    """
    with open_lab_to_read(lab) as opened:
        opened.runs.reap_crashed()
        record = opened.runs.get(run)
        keys = split_keys(opened.metrics.keys(record.id))[0]
        points = opened.metrics.count(record.id)
        texts = opened.metrics.text_counts(record.id)
        system = system_table(read_system(opened, record.id))
        points -= sum(row["samples"] for row in system)
        objects = opened.run_objects(record.id)
        logged_versions, used_versions = opened.artifacts.of_run(record.id)
        used = [_artifact(v) for v in used_versions]
        logged = [_artifact(v) for v in logged_versions]
        evals = opened.evals.names(record.id)
        cut = schedule_incomplete(opened, record)
        checks = suite_rules.latest(opened, record.id)
        other_evaluator = evaluator.differs(opened, record)
        alerts = [a.to_dict() for a in opened.alerts.of_runs([record.id])]
    payload = record.to_dict()
    payload.update(metric_keys=keys, points=points, text_keys=texts,
                   text_points=sum(texts.values()), system_metrics=system,
                   objects=objects, artifacts_used=used, artifacts_logged=logged,
                   eval_sets=evals,
                   incomplete_schedule=cut, suite_checks=checks,
                   evaluator_differs=other_evaluator, alerts=alerts,
                   precision_lints=lint_rules.run_lints(record.config, record.summary))
    if as_json:
        print_json(payload)
        return
    echo(f"{record.name} ({record.id})  project={record.project}  status={record.status}")
    if record.reason:
        echo(f"  reason: {record.reason}")
    for label, value in (("question", record.question_id), ("baseline", record.baseline),
                         ("git", _git_line(record)), ("code snapshot", record.code_snapshot),
                         ("command", " ".join(record.command or [])),
                         ("duration", duration(record.duration)), ("exit code", record.exit_code)):
        if value not in (None, ""):
            echo(f"  {label}: {value}")
    if payload.get("incomplete_schedule"):
        echo(f"  NOT A FINISHED RESULT: {payload['incomplete_schedule']}")
    if other_evaluator:
        echo(f"  EVALUATOR: {other_evaluator}; decide leaves this run out")
    for alert in alerts:
        echo(f"  ALERT {alert['detector']}: {alert['message']}"
                   + (f" ({alert['action']})" if alert["action"] else ""))
    if record.has_nonfinite:
        echo("  warning: some metric values are NaN or infinite")
    for note in record.capture_notes or []:
        echo(f"  capture: {note}")
    for warning in payload["precision_lints"]:
        echo(f"  PRECISION WARNING: {warning}")
    for line in suite_rules.lines(checks):
        echo(f"  {line.replace('**', '')}")
    if used:
        echo("  artifacts used: " + ", ".join(
            f"{a['name']}:{a['version']} ({a['type']}, logged by run {a['run_id'] or '(gone)'})"
            for a in used))
    if logged:
        echo("  artifacts logged: " + ", ".join(f"{a['name']}:{a['version']}" for a in logged))
    _section("config", record.config)
    _section("summary", record.summary)
    echo(_metrics_line(keys, points, texts) + (f"; evals: {', '.join(evals)}"
                                                     if evals else ""))
    if system:
        echo(f"system metrics ({system[0]['samples']} samples):")
        for row in system:
            echo(f"  {row['key']}: last {row['last']:.4g}, mean {row['mean']:.4g}, "
                       f"max {row['max']:.4g}")


def _artifact(version: ArtifactVersion) -> dict[str, Any]:
    """An artifact version as ``show`` gives it: name, version, type, aliases, logging run."""
    return {"name": version.name, "version": version.version, "type": version.type,
            "aliases": list(version.aliases), "run_id": version.run_id}


def _metrics_line(keys: list[str], points: int, texts: dict[str, int]) -> str:
    """``metrics: 4 keys, 240 points (text: 1 key, 30 points)``: numbers and text together."""
    def count(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    total = len(set(keys) | set(texts))
    line = f"metrics: {count(total, 'key')}, {count(points + sum(texts.values()), 'point')}"
    if texts:
        line += (f" (text: {count(len(texts), 'key')}, "
                 f"{count(sum(texts.values()), 'point')})")
    return line


@click.command("digest")
@click.argument("run")
@lab_option
@json_option
def digest_cmd(run: str, lab: str | None, as_json: bool) -> None:
    """A run in a page: status, reason, config change, alerts, and per metric its first, last,
    min and max, trend, non-finite points and anomalies (what the MCP server gives an agent).

    \b
    Example:
      stepstone digest brisk-otter-3f9k
      stepstone digest 3f9k2a1b --json
    """
    from stepstone.method.digest import digest

    with open_lab(lab) as opened:
        opened.runs.reap_crashed()
        found = digest(opened, run)
    if as_json:
        print_json(found.to_dict())
        return
    echo(f"{found.name} ({found.id}) {found.kind} {found.status}"
               + (f": {found.reason}" if found.reason else ""))
    for label, value in (("question", found.question_id), ("baseline", found.baseline),
                         ("change", changes(found.config_delta)),
                         ("NOT A FINISHED RESULT", found.not_a_finished_result),
                         ("EVALUATOR", found.evaluator_differs)):
        if value:
            echo(f"  {label}: {value}")
    for alert in found.alerts:
        echo(f"  ALERT {alert.detector}: {alert.message}"
                   + (f" ({alert.action})" if alert.action else ""))
    for m in found.metrics:
        if m.last is None:
            echo(f"  {m.key}: {m.points} points, none finite")
            continue
        echo(f"  {m.key}: {m.first:.4g} → {m.last:.4g} ({m.trend}), min {m.min:.4g} "
                   f"@{m.min_step}, max {m.max:.4g} @{m.max_step}, {m.points} points"
                   + "".join(f"; {a}" for a in m.anomalies))
    if found.more_keys:
        echo(f"  and {len(found.more_keys)} more keys: {', '.join(found.more_keys)}")


@click.command("watch")
@click.argument("run")
@monitor_options
@lab_option
@json_option
def watch_cmd(run: str, lab: str | None, as_json: bool, **monitor: Any) -> None:
    """Watch a running run until it ends, with the health monitor of `run --monitor`: for a
    run stepstone did not launch (a script that calls stepstone.init() itself). Each alert is
    a note on the run and in the notebook; --stop-on-alert stops a run on this machine.

    \b
    Example:
      stepstone watch brisk-otter-3f9k --stop-on-alert --on-alert 'notify-send "$STEPSTONE_ALERT"'
    """
    from stepstone.launch.monitor import MonitorSpec, watch_run

    spec = MonitorSpec.from_env(monitor_env(monitor)) or MonitorSpec()
    with open_lab(lab) as opened:
        record = watch_run(opened, run, spec)
        alerts = [a.to_dict() for a in opened.alerts.of_runs([record.id])]
    if as_json:
        print_json({**record.to_dict(), "alerts": alerts})
        return
    echo(f"run {record.id} {record.status}" + (f": {record.reason}" if record.reason else "")
         + f"; {len(alerts)} alert(s)")


def _git_line(record: RunRecord) -> str | None:
    if not record.git_commit:
        return None
    dirty = " (dirty)" if record.git_dirty else ""
    return f"{record.git_commit[:10]} on {record.git_branch}{dirty}"


def _section(title: str, data: dict[str, Any]) -> None:
    from stepstone.configs import flatten

    if not data:
        return
    echo(f"{title}:")
    for key, value in flatten(data, strict=False).items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        echo(f"  {key} = {shown}")


@click.command("status")
@lab_option
@json_option
def status_cmd(lab: str | None, as_json: bool) -> None:
    """What needs you now: crashed and unfinished runs first, then running, then recent.

    \b
    Example:
      stepstone status
      stepstone status --json
    """
    with open_lab_to_read(lab) as opened:
        attention = run_rules.attention(opened)
        running = opened.runs.list(status="running", details=False)
        recent = opened.runs.list(status="finished", limit=10, details=False)
        method = method_status(opened)
        offline = offline_runs(opened)
        spools = [(spool, [r for r in runs if r not in offline])
                  for spool, runs in waiting_spools(opened)]
        spools = [(spool, runs) for spool, runs in spools if runs]
        target = opened.target
    now = time.time()
    sections = {"needs attention": attention, "running": running, "recently finished": recent}
    if as_json:
        print_json({**{k.replace(" ", "_"): [r.to_dict() for r in v]
                       for k, v in sections.items()}, "method": method, "offline_runs": offline,
                    "spools": [{"spool": str(spool.root), "runs": runs,
                                "sync": sync_command(spool, target.location)}
                               for spool, runs in spools]})
        return
    if offline:
        sync = "stepstone sync" if target.root is not None else \
            f"stepstone sync --lab {offline_target(target).root}"
        echo(f"{len(offline)} run(s) recorded offline while the store was down are "
             f"waiting for `{sync}`: {', '.join(offline)}")
    for spool, runs in spools:
        echo(f"{len(runs)} run(s) not fully saved are kept in the spool {spool.root}, waiting "
             f"for `{sync_command(spool, target.location)}`: {', '.join(runs)}")
    for line in status_lines(method):
        echo(line)
    for title, records in sections.items():
        columns = (*_COLUMNS, "reason") if title == "needs attention" else _COLUMNS
        if records:
            print_table([_row(r, now) for r in records], columns, title=title)
        else:
            echo(f"{title}: none")
    if attention:
        echo("Finish these by resuming them, or close them with "
                   "`stepstone abandon RUN --reason ...`.")


@click.command("abandon")
@click.argument("run")
@click.option("--reason", required=True, help="Why the run stops here (kept for good).")
@lab_option
@json_option
def abandon_cmd(run: str, reason: str, lab: str | None, as_json: bool) -> None:
    """Close a crashed, failed or killed run with a written reason.

    \b
    Example:
      stepstone abandon 3f9k2a1b --reason "diverged at step 4k; lr too high, see page 12"
    """
    with open_lab(lab) as opened:
        record = run_rules.abandon(opened, run, reason)
    if as_json:
        print_json(record.to_dict())
    else:
        echo(f"run {record.id} abandoned: {record.reason}")
