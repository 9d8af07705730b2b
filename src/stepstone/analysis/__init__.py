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

from typing import TYPE_CHECKING

from stepstone._lazy import lazy_names

if TYPE_CHECKING:
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
    from .testtime import testtime_curve

# Each name is imported from its submodule on first use, so that a command that fits a law
# does not import what it does not use (scipy.stats alone takes longer than a whole fit).
# Not stratify: the function shares its module's name, and importing the module first would
# leave the module where the function is expected.
from .stratify import compare_buckets, stratify

__getattr__, __dir__ = lazy_names(globals(), {
    "ScalingFit": "fit",
    "ScalingForm": "scaling",
    "average_evals": "evals",
    "bootstrap_ci": "stats",
    "checkpoint_divergences": "evals",
    "compare_precisions": "precision",
    "count_parameters": "flops",
    "device_peak": "headroom",
    "efficiency_gain": "gain",
    "estimate_flops": "flops",
    "estimate_step_cost": "headroom",
    "fit_scaling_law": "fit",
    "flops_6nd": "flops",
    "flops_kaplan": "flops",
    "gain_curve": "gain",
    "loss_eval_divergence": "evals",
    "mfu": "pareto",
    "minimum_detectable_effect": "stats",
    "paired_comparison": "stats",
    "pareto_front": "pareto",
    "parse_constraint": "pareto",
    "pass_at_k": "passk",
    "pass_at_k_curve": "passk",
    "pass_at_k_problems": "passk",
    "precision_report": "precision",
    "register_form": "scaling",
    "roofline": "headroom",
    "seed_variance": "stats",
    "testtime_curve": "testtime",
})

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
