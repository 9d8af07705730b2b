"""The frozen data classes of a report: :class:`Report` and the parts it holds, as plain
data (strings, numbers, tuples), ready for Markdown, HTML or JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stepstone.display import jsonable
from stepstone.store.suites import CheckResult

if TYPE_CHECKING:  # a type only: importing the report loads no scipy (analysis.gain does)
    from stepstone.analysis.gain import GainRung


# -- the data ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuestionInfo:
    id: str
    text: str
    rule: str
    metrics: tuple[str, ...]
    status: str
    answer: str | None
    idea: str | None
    timebox_hours: float | None
    deadline: str | None
    overdue: bool
    baseline_ref: str | None
    feature_keys: tuple[str, ...]
    feature_delta: tuple[tuple[str, str], ...]  # (key, value as an override writes it)
    reason: str | None = None  # why it was abandoned


@dataclass(frozen=True)
class BaselineInfo:
    version: str
    tier: str
    day: str
    parent: str | None
    reference_metric: str | None
    features: tuple[tuple[str, str], ...]  # (question id, change) merged since the parent
    check_status: str
    check: str


@dataclass(frozen=True)
class ConfigChange:
    """One key a question run changed against its baseline, and which runs changed it."""

    key: str
    baseline: str
    value: str
    runs: tuple[str, ...]


@dataclass(frozen=True)
class CodeInfo:
    commits: tuple[tuple[str, bool, int], ...]  # (git commit, dirty, runs)
    snapshots: tuple[tuple[str, int], ...]  # (code snapshot id, runs)
    python: tuple[str, ...]
    hardware: tuple[str, ...]
    packages: tuple[tuple[str, str], ...]
    runs_without_capture: tuple[str, ...]


@dataclass(frozen=True)
class RunRow:
    id: str
    name: str
    arm: str  # "feature" (the question's runs) or "baseline"
    kind: str
    status: str
    rung: str
    seed: str
    value: float | None
    compute: float | None
    used: bool
    note: str


@dataclass(frozen=True)
class ParamRow:
    name: str
    value: float
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class FitInfo:
    available: bool
    reason: str | None
    source: str
    metric: str
    form: str = ""
    formula: str = ""
    params: tuple[ParamRow, ...] = ()
    n_points: int = 0
    n_bootstrap: int = 0
    confidence: float = 0.95
    rmse_log: float | None = None
    flops_method: str = ""
    holdout_note: str = ""
    holdout_mean_error: float | None = None
    holdout_max_error: float | None = None
    compute_range: tuple[float, float] | None = None
    run_ids: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    points_compute: tuple[float, ...] = ()
    points_loss: tuple[float, ...] = ()
    curve_compute: tuple[float, ...] = ()
    curve_loss: tuple[float, ...] = ()
    band_low: tuple[float, ...] = ()
    band_high: tuple[float, ...] = ()


@dataclass(frozen=True)
class GainRow:
    """One rung of the question's gain: the analysis's own result, the runs averaged at it, and
    whether its compute lies outside the baseline's fitted range."""

    rung: GainRung
    runs: tuple[str, ...]
    extrapolated: bool


@dataclass(frozen=True)
class GainInfo:
    available: bool
    reason: str | None
    rows: tuple[GainRow, ...] = ()
    verdict: str = ""
    slope_per_decade: float | None = None
    slope_ci: tuple[float | None, float | None] = (None, None)
    n_rungs: int = 0
    tolerance: float = 0.1
    explanation: str = ""
    comparison: str = ""
    confidence: float = 0.95
    skipped: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BucketRow:
    field: str
    bucket: str
    count: int
    mean: float
    std: float | None
    worst: float | None
    ci_low: float | None
    ci_high: float | None
    thin: bool
    weakest: bool


@dataclass(frozen=True)
class StratArm:
    arm: str
    run_id: str
    run_name: str
    eval_name: str
    metric: str
    higher_is_better: bool
    n_records: int
    fields: tuple[str, ...]
    rows: tuple[BucketRow, ...]
    overall: BucketRow
    findings: tuple[str, ...]
    min_count: int


@dataclass(frozen=True)
class BucketDiffRow:
    field: str
    bucket: str
    mean_baseline: float
    mean_feature: float
    diff: float
    ci_low: float | None
    ci_high: float | None
    verdict: str


@dataclass(frozen=True)
class StratInfo:
    available: bool
    reason: str | None
    arms: tuple[StratArm, ...] = ()
    comparison: tuple[BucketDiffRow, ...] = ()
    largest_regression: str | None = None


@dataclass(frozen=True)
class PageRef:
    number: int
    kind: str
    title: str
    body: str


@dataclass(frozen=True)
class DecisionInfo:
    proposed: str
    reasons: tuple[str, ...]
    flags: tuple[str, ...]
    answer: str | None
    overridden: bool
    conclusion: str | None
    pages: tuple[PageRef, ...]
    gains: tuple[tuple[str, float, float, float], ...]  # the gains the rule read: rung, value, CI


@dataclass(frozen=True)
class ReproRow:
    run_id: str
    name: str
    arm: str
    kind: str
    status: str
    cwd: str | None
    command: str | None
    overrides: tuple[str, ...]
    stepstone_command: str | None
    git_commit: str | None
    git_dirty: bool
    code_snapshot: str | None


@dataclass(frozen=True)
class SuiteRunResult:
    """A run against one suite version: the newest recorded check, or (``recorded`` False) the
    check made for the report on a run that finished before the suite existed."""

    run_id: str
    run_name: str
    arm: str  # "feature" (the question's runs) or "baseline"
    suite: str  # the suite version
    passed: bool
    recorded: bool
    checks: tuple[CheckResult, ...]


@dataclass(frozen=True)
class LintRow:
    """One precision lint of a run (from its config or recorded while it ran)."""

    run_id: str
    run_name: str
    arm: str
    message: str
    source: str  # "config" or "recorded"


@dataclass(frozen=True)
class StandardsInfo:
    """The evaluation suites and precision lints of the report's runs."""

    tier: str | None = None
    tier_suites: tuple[str, ...] = ()  # the current suite versions attached to the tier
    results: tuple[SuiteRunResult, ...] = ()
    lints: tuple[LintRow, ...] = ()


@dataclass(frozen=True)
class Report:
    """Everything a question's report says, as plain data (``to_dict()`` for JSON)."""

    created_at: str
    question: QuestionInfo
    metric: str
    lower_is_better: bool
    baseline: BaselineInfo | None
    config_changes: tuple[ConfigChange, ...]
    code: CodeInfo
    runs: tuple[RunRow, ...]
    fit: FitInfo
    gain: GainInfo
    stratified: StratInfo
    decision: DecisionInfo
    caveats: tuple[str, ...]
    reproduce: tuple[ReproRow, ...]
    notes: tuple[PageRef, ...] = field(default=())
    standards: StandardsInfo = field(default_factory=StandardsInfo)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(dataclasses.asdict(self))
        return out
