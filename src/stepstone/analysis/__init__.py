"""Pure analysis: arrays and records in, frozen results (with ``to_dict()``) out; no I/O.

Entry points (result types live in the submodules named after what they hold):

* scaling laws — :func:`fit_scaling_law` -> ``ScalingFit`` (``.predict``,
  ``.compute_for_loss``, ``.compute_optimal``); forms in :mod:`.scaling`;
* compute-efficiency gain — :func:`efficiency_gain` (per rung, with a trend verdict),
  :func:`gain_curve` (gain(C) between two laws);
* FLOPs — :func:`estimate_flops`, :func:`flops_6nd`, :func:`flops_kaplan`,
  :func:`count_parameters`;
* statistics — :func:`seed_variance`, :func:`bootstrap_ci`, :func:`paired_comparison`,
  :func:`minimum_detectable_effect`, :func:`average_evals`, :func:`loss_eval_divergence`,
  :func:`checkpoint_divergences`;
* stratified evaluation — :func:`stratify`, :func:`compare_buckets`;
* quality against cost — :func:`pareto_front`, :func:`parse_constraint`, :func:`mfu`;
* precision — :func:`precision_report`, :func:`compare_precisions`;
* pass@k — :func:`pass_at_k`, :func:`pass_at_k_problems`, :func:`pass_at_k_curve`;
* optimization headroom — :func:`roofline`, :func:`estimate_step_cost`, :func:`device_peak`;
* test-time compute — :func:`testtime_curve`.

Every refusal raises :class:`stepstone.errors.AnalysisError` with what to do next.
"""

from __future__ import annotations

from .evals import average_evals, checkpoint_divergences, loss_eval_divergence
from .fit import ScalingFit, fit_scaling_law
from .flops import count_parameters, estimate_flops, flops_6nd, flops_kaplan
from .gain import efficiency_gain, gain_curve
from .headroom import device_peak, estimate_step_cost, roofline
from .pareto import mfu, pareto_front, parse_constraint
from .passk import pass_at_k, pass_at_k_curve, pass_at_k_problems
from .precision import compare_precisions, precision_report
from .scaling import ScalingForm, register_form
from .stats import bootstrap_ci, minimum_detectable_effect, paired_comparison, seed_variance
from .stratify import compare_buckets, stratify
from .testtime import testtime_curve

__all__ = [
    "ScalingFit",
    "ScalingForm",
    "average_evals",
    "bootstrap_ci",
    "checkpoint_divergences",
    "compare_buckets",
    "compare_precisions",
    "count_parameters",
    "device_peak",
    "efficiency_gain",
    "estimate_flops",
    "estimate_step_cost",
    "fit_scaling_law",
    "flops_6nd",
    "flops_kaplan",
    "gain_curve",
    "loss_eval_divergence",
    "mfu",
    "minimum_detectable_effect",
    "paired_comparison",
    "pareto_front",
    "parse_constraint",
    "pass_at_k",
    "pass_at_k_curve",
    "pass_at_k_problems",
    "precision_report",
    "register_form",
    "roofline",
    "seed_variance",
    "stratify",
    "testtime_curve",
]
