"""The lab and the method as MCP tools and resources.

Each tool opens the lab, makes one call of the library function the command line makes for
the same thing, and closes it: the same rules, the same refusals. A result is JSON (the
structured content, and the same as text); a refusal is the command line's one-line message
with ``isError`` set. Resources: the notebook (whole, or one question's pages) and a question's
report as Markdown.
"""

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from stepstone.display import json_text, jsonable
from stepstone.errors import ConfigError, StepstoneError, UsageError
from stepstone.launch import executors
from stepstone.launch.jobs import (
    LadderSpec,
    PlanRequest,
    RunRequest,
    ladder_maker,
    launch_run,
    plan_and_launch,
)
from stepstone.method import decide as decide_rules
from stepstone.method import holdout, memory
from stepstone.method import ideas as idea_rules
from stepstone.method import notebook as notebook_rules
from stepstone.method import questions as question_rules
from stepstone.method.digest import digest
from stepstone.method.preflight import prepare_launch, problems_text, split_keys
from stepstone.method.runs import attention
from stepstone.method.status import method_status
from stepstone.report import build_report
from stepstone.report.render import render_markdown
from stepstone.store.lab import Lab, find_store
from stepstone.store.pool import LabPool

Keys = Annotated[list[str], Field(description="Config keys (dotted); may be empty.")]
Overrides = Annotated[list[str], Field(description="KEY=VALUE overrides of the base config "
                                                   "(+KEY=VALUE adds a key).")]
Command = Annotated[list[str], Field(description="The command each run executes, as a list: "
                                                 "[\"python\", \"train.py\"].", min_length=1)]
READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                         open_world_hint=False)
LAUNCHES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)


def _result(payload: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=json_text(payload))],
                          structured_content=jsonable(payload))


def _refusal(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


class LabTools:
    """The tools over one lab (a folder, a store URL, or None: found as the CLI finds it)."""

    def __init__(self, lab: str | None, *, workers: int = 1,
                 env: Mapping[str, str] | None = None) -> None:
        self.lab = lab
        self.workers = workers
        self.env = dict(env or {})  # for every launched run: the health monitor's settings
        self._pools: dict[bool, LabPool] = {}  # the lab kept open between calls (read-only: True)
        self._pools_lock = threading.Lock()

    @contextmanager
    def _borrow(self, *, readonly: bool = False) -> Iterator[Lab]:
        """The lab, kept open between calls (:class:`~stepstone.store.pool.LabPool`: on a team
        store a call costs no new connection); found on first use, as the CLI finds it."""
        with self._pools_lock:
            pool = self._pools.get(readonly)
            if pool is None:
                pool = self._pools[readonly] = LabPool(find_store(self.lab), readonly=readonly)
        with pool.borrow() as lab:
            yield lab

    def call(self, work: Callable[[Lab], dict[str, Any]]) -> CallToolResult:
        """Do ``work`` on the lab; a library error is its one-line message."""
        try:
            with self._borrow() as opened:
                return _result(work(opened))
        except StepstoneError as exc:
            return _refusal(str(exc))

    def register(self, server: MCPServer[Any]) -> None:
        """Add every tool and resource to ``server``."""
        for name, annotations in TOOLS.items():
            method = getattr(self, name)
            server.add_tool(method, name=name, description=method.__doc__,
                            annotations=annotations)
        server.resource("stepstone://notebook", name="notebook", mime_type="text/markdown",
                        description="Every notebook page, oldest first.")(self.notebook)
        server.resource("stepstone://notebook/{question}", name="question-notebook",
                        mime_type="text/markdown",
                        description="The notebook pages of one question.")(
            self.question_notebook)
        server.resource("stepstone://reports/{question}", name="report",
                        mime_type="text/markdown",
                        description="A question's report (setup, results, fit, gain, "
                                    "decision, caveats), figures left out.")(self.report)

    # ------------------------------------------------------------------ runs
    def list_runs(self, status: str | None = None, project: str | None = None,
                  tag: str | None = None, name: str | None = None, question: str | None = None,
                  limit: Annotated[int, Field(ge=1, le=500)] = 50) -> CallToolResult:
        """List runs, newest first. `name` finds runs whose name contains the text; `status`
        is running, finished, failed, crashed, killed or abandoned. Each run: id, name,
        status, reason, kind, question, baseline, config change, last step."""
        def work(lab: Lab) -> dict[str, Any]:
            lab.runs.reap_crashed()
            records = lab.runs.list(status=status, project=project, tag=tag, name=name,
                                    question_id=question, limit=limit, details=False)
            return {"runs": [{k: r.to_dict()[k] for k in (
                "id", "name", "project", "status", "reason", "kind", "question_id", "baseline",
                "config_delta", "last_step", "created_at", "ended_at")} for r in records]}
        return self.call(work)

    def run_digest(self, run: Annotated[str, Field(description="Run id, id prefix or name.")]
                   ) -> CallToolResult:
        """One run in a page: status and reason, config change against its baseline, alerts,
        whether it is a finished result and measured with its question's evaluator, the
        numeric summary, and per metric key: first, last, min, max (with steps), trend,
        non-finite points and anomalies."""
        return self.call(lambda lab: digest(lab, run).to_dict())

    def status(self) -> CallToolResult:
        """What needs attention now: runs that stopped without finishing, questions whose time
        box ran out, runs measured with another evaluator, regressed baselines."""
        def work(lab: Lab) -> dict[str, Any]:
            return {"needs_attention": [r.to_dict() for r in attention(lab)],
                    "method": method_status(lab)}
        return self.call(work)

    # ------------------------------------------------------------------ ideas
    def idea_add(self, title: str, source: str | None = None,
                 cost: Annotated[str | None, Field(description="90m, 3h, 2d")] = None,
                 signal: Literal["low", "medium", "high"] = "medium") -> CallToolResult:
        """Park a new idea. `similar` lists the earlier ideas and questions most like it, with
        what became of them (dropped with a reason, answered no): read it before going on."""
        return self.call(lambda lab: idea_rules.add(lab, title, source=source, cost=cost,
                                                    signal=signal).to_dict())

    def idea_list(self, status: Literal["parked", "picked", "tested", "adopted",
                                        "dropped"] | None = None,
                  include_closed: bool = False, dead: bool = False) -> CallToolResult:
        """Ideas ranked by expected signal per hour of cost; `dead` lists the dead ends
        instead (dropped ideas and questions answered no, with their reasons)."""
        def work(lab: Lab) -> dict[str, Any]:
            if dead:
                return {"dead": [r.to_dict() for r in memory.dead(
                    lab, status=status, include_closed=include_closed)]}
            return {"ideas": [r.to_dict() for r in idea_rules.ranked(
                lab, status, include_closed=include_closed)]}
        return self.call(work)

    def idea_show(self, idea: str) -> CallToolResult:
        """One idea and every move it made, each with its reason."""
        return self.call(lambda lab: idea_rules.describe(lab, idea).to_dict())

    # ------------------------------------------------------------------ questions
    def question_new(
            self, text: str,
            rule: Annotated[str, Field(description="The decision rule: 'val_loss <= baseline "
                                                   "- 0.01', 'gain >= 1.05 at every rung'.")],
            metrics: list[str] | None = None, idea: str | None = None,
            timebox: Annotated[str | None, Field(description="3h, 2d")] = None,
            baseline: str | None = None,
            budget: Annotated[str | None, Field(description="Compute budget in FLOPs, 1e15; "
                                                            "launches past it are refused.")
                              ] = None,
            holdout_looks: Annotated[int | None, Field(ge=1, description="Times its held-out "
                                                                         "results may be read.")
                                     ] = None) -> CallToolResult:
        """Ask a question before any run: its rule must parse. `similar` lists the earlier
        ideas and questions most like it, with their verdicts and conclusions."""
        return self.call(lambda lab: question_rules.create(
            lab, text, rule=rule, metrics=split_keys(metrics or []), idea=idea,
            timebox=timebox, baseline=baseline, budget=budget,
            holdout_looks=holdout_looks).to_dict())

    def question_list(self, status: Literal["open", "running", "answered",
                                            "abandoned"] | None = None) -> CallToolResult:
        """Every question with its status and answer."""
        return self.call(lambda lab: {"questions": [q.to_dict()
                                                    for q in lab.questions.list(status)]})

    def question_show(self, question: str) -> CallToolResult:
        """One question: rule, status, answer, runs, notebook pages, and the runs measured with
        another evaluator than the one it pinned (left out of decide)."""
        return self.call(lambda lab: question_rules.describe(lab, question).to_dict())

    def heldout_look(self, question: str) -> CallToolResult:
        """Spend one of the question's held-out looks: the held-out results (heldout/*) of its
        finished runs, which digests leave out; each look is a notebook page, and a question
        that has spent its budget is refused."""
        return self.call(lambda lab: holdout.look(lab, question).to_dict())

    # ------------------------------------------------------------------ plan and launch
    def plan(self, baseline: str, overrides: Overrides | None = None,
             features: Keys | None = None, allowed: Keys | None = None,
             question: str | None = None) -> CallToolResult:
        """Resolve baseline + overrides, show the diff and verify it: the feature keys really
        change and nothing else does. A config that does not verify is refused with every
        problem and the diff."""
        def work(lab: Lab) -> dict[str, Any]:
            prepared = prepare_launch(lab, baseline=baseline, overrides=overrides or [],
                                      feature_keys=split_keys(features or []),
                                      allowed=split_keys(allowed or []), question=question,
                                      strict=False)
            if not prepared.ok:
                raise ConfigError(problems_text(prepared))
            return prepared.to_dict()
        return self.call(work)

    def launch_run(self, command: Command, question: str, overrides: Overrides | None = None,
                   features: Keys | None = None, allowed: Keys | None = None,
                   baseline: str | None = None, name: str | None = None,
                   cwd: Annotated[str | None, Field(description="Folder to run in.")] = None,
                   smoke: bool = False) -> CallToolResult:
        """Launch one run for a question and wait for it to end. Refused when the config does
        not verify against the baseline, when the question's time box has run out, or when the
        run would take it past its compute budget."""
        def work(lab: Lab) -> dict[str, Any]:
            request = RunRequest(command=command, name=name, overrides=overrides or [],
                                 baseline=baseline, question=question, features=features or [],
                                 allowed=allowed or [], smoke=smoke, cwd=_folder(cwd),
                                 env=self.env)
            return launch_run(lab, request, echo=False).to_dict()
        return self.call(work)

    def launch_ladder(
            self, command: Command, question: str,
            rungs: Annotated[str | None, Field(description="Rungs: 'k=v,k=v; k=v,k=v'.")
                             ] = None,
            budgets: Annotated[str | None, Field(description="Compute budgets in FLOPs, "
                                                             "'1e12,3e12': N and D by 6ND=C.")
                               ] = None,
            overrides: Overrides | None = None, features: Keys | None = None,
            baseline: str | None = None, seeds: str | None = None,
            cwd: Annotated[str | None, Field(description="Folder to run in.")] = None,
            dry_run: bool = False) -> CallToolResult:
        """Plan a scaling ladder for a question and launch it on the local pool; wait for its
        runs. Refused when a planned run does not verify, when the question's time box has
        run out, or when the ladder would take it past its compute budget. `dry_run` plans
        and shows it without launching."""
        spec = LadderSpec(rungs=rungs, budgets=budgets, seeds=seeds)
        workers = self.workers

        def work(lab: Lab) -> dict[str, Any]:
            request = PlanRequest(command=command, baseline=baseline,
                                  overrides=overrides or [], features=features or [],
                                  question=question, cwd=_folder(cwd))
            make = ladder_maker(lab, spec)
            executor = None if dry_run else (
                lambda plan_id: executors.local_executor(workers=workers))
            return plan_and_launch(lab, request, make, executor=executor,
                                   env=self.env).to_dict()
        return self.call(work)

    # ------------------------------------------------------------------ decide and notes
    def decide(self, question: str, conclusion: str | None = None,
               answer: Literal["yes", "no", "inconclusive"] | None = None) -> CallToolResult:
        """Gather the evidence, evaluate the question's rule and propose an answer with its
        reasons and flags (unfinished runs, another evaluator...). With `conclusion`, record
        the answer (`answer` overrides the proposal, recorded as such) and write the result
        and decision pages."""
        def work(lab: Lab) -> dict[str, Any]:
            proposal, page = decide_rules.decide(lab, question, conclusion=conclusion,
                                                 answer=answer)
            return {**proposal.to_dict(), "decision_page": page}
        return self.call(work)

    def note(self, text: str, question: str | None = None,
             corrects: Annotated[int | None, Field(description="The page it corrects.")
                                 ] = None) -> CallToolResult:
        """Append a page to the notebook (append-only: a correction is a new page that points
        at the one it corrects)."""
        return self.call(lambda lab: notebook_rules.note(lab, text, question=question,
                                                         corrects=corrects).to_dict())

    # ------------------------------------------------------------------ resources
    def _read(self, work: Callable[[Lab], str]) -> str:
        with self._borrow(readonly=True) as opened:
            return work(opened)

    def notebook(self) -> str:
        return self._read(lambda lab: notebook_rules.text(notebook_rules.pages(lab)))

    def question_notebook(self, question: str) -> str:
        return self._read(lambda lab: notebook_rules.text(notebook_rules.pages(lab, question)))

    def report(self, question: str) -> str:
        return self._read(lambda lab: render_markdown(
            build_report(lab, question, n_bootstrap=200), figures=()))


def _folder(cwd: str | None) -> str | None:
    if cwd is not None and not Path(cwd).is_dir():
        raise UsageError(f"cwd {cwd!r} is not a folder")
    return cwd


TOOLS: dict[str, ToolAnnotations] = {
    "list_runs": READS, "run_digest": READS, "status": READS,
    "idea_add": WRITES, "idea_list": READS, "idea_show": READS,
    "question_new": WRITES, "question_list": READS, "question_show": READS,
    "heldout_look": WRITES,
    "plan": WRITES, "launch_run": LAUNCHES, "launch_ladder": LAUNCHES,
    "decide": WRITES, "note": WRITES,
}
"""Every tool, with what it does to the lab."""
