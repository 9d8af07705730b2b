"""pass@k: the unbiased estimator and pass@k curves over checkpoints.

For a problem with ``n`` samples of which ``c`` pass (Chen et al. 2021, "Evaluating Large
Language Models Trained on Code", eq. 1 and Fig. 3)::

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - Π_{i = n-c+1}^{n} (1 - k / i)

computed in the numerically stable product form (no huge binomials); it is 1 when
``n - c < k``. References: n=10, c=3, k=5 gives 0.916667; n=200, c=10, k=10 gives 0.408548.
The benchmark score is the mean over problems; its interval here is the Student t
interval over problems.

:func:`pass_at_k_curve` tabulates pass@k for several k at each checkpoint, so that an early
checkpoint's pass@k with k ≫ 1 (what the model can reach with sampling) can be set against
a later checkpoint's pass@1 (what training made reliable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stepstone.errors import AnalysisError

from ._common import ResultMixin, check_confidence, t_interval


@dataclass(frozen=True)
class PassAtK(ResultMixin):
    k: int
    n_problems: int
    mean: float
    ci_low: float
    ci_high: float
    per_problem: tuple[float, ...]
    confidence: float


@dataclass(frozen=True)
class PassAtKPoint(ResultMixin):
    checkpoint: str
    k: int
    mean: float
    ci_low: float
    ci_high: float
    n_problems: int


@dataclass(frozen=True)
class PassAtKCurve(ResultMixin):
    ks: tuple[int, ...]
    checkpoints: tuple[str, ...]
    points: tuple[PassAtKPoint, ...]

    def value(self, checkpoint: str, k: int) -> float:
        for p in self.points:
            if p.checkpoint == str(checkpoint) and p.k == k:
                return p.mean
        raise AnalysisError(f"No pass@{k} for checkpoint {checkpoint!r}.")


def _check(n: int, c: int, k: int) -> None:
    if not (
        isinstance(n, (int, np.integer))
        and isinstance(c, (int, np.integer))
        and isinstance(k, (int, np.integer))
    ):
        raise AnalysisError(f"n, c and k must be integers; got n={n!r}, c={c!r}, k={k!r}.")
    if n < 1 or k < 1:
        raise AnalysisError(f"n and k must be at least 1; got n={n}, k={k}.")
    if not 0 <= c <= n:
        raise AnalysisError(f"c (correct samples) must be between 0 and n={n}; got {c}.")
    if k > n:
        raise AnalysisError(
            f"pass@{k} needs at least {k} samples per problem; this one has n={n}. "
            "Sample more, or lower k."
        )


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``n`` samples, ``c`` of them correct."""
    _check(n, c, k)
    if n - c < k:
        return 1.0
    i = np.arange(n - c + 1, n + 1, dtype=np.float64)
    return float(1.0 - np.prod(1.0 - k / i))


def pass_at_k_problems(
    n: int | Sequence[int],
    c: Sequence[int],
    k: int,
    *,
    confidence: float = 0.95,
) -> PassAtK:
    """pass@k per problem and averaged (``n``: samples per problem, one number or a list)."""
    conf = check_confidence(confidence)
    cs = list(c)
    if not cs:
        raise AnalysisError("No problems given; pass one count of correct samples per problem.")
    ns = [n] * len(cs) if isinstance(n, (int, np.integer)) else list(n)
    if len(ns) != len(cs):
        raise AnalysisError(f"n has {len(ns)} entries but c has {len(cs)}; give one per problem.")
    per = np.array([pass_at_k(int(ni), int(ci), k) for ni, ci in zip(ns, cs, strict=True)])
    mean = float(per.mean())
    if per.size >= 2:
        lo, hi = t_interval(mean, float(per.std(ddof=1)) / math.sqrt(per.size), per.size - 1, conf)
        lo, hi = max(0.0, lo), min(1.0, hi)
    else:
        lo = hi = math.nan
    return PassAtK(k, int(per.size), mean, lo, hi, tuple(float(v) for v in per), conf)


def pass_at_k_curve(
    checkpoints: Mapping[str | int, tuple[int | Sequence[int], Sequence[int]]],
    ks: Sequence[int] = (1, 10, 100),
    *,
    confidence: float = 0.95,
) -> PassAtKCurve:
    """pass@k for every k in ``ks`` at each checkpoint: ``{checkpoint: (n, c_per_problem)}``.

    A k larger than a checkpoint's samples per problem is skipped for that checkpoint.
    """
    if not checkpoints:
        raise AnalysisError("No checkpoints given.")
    if not ks:
        raise AnalysisError("Give at least one k.")
    points = []
    for name, (n, c) in checkpoints.items():
        n_min = n if isinstance(n, (int, np.integer)) else min(n)
        for k in ks:
            if k > n_min:
                continue
            r = pass_at_k_problems(n, c, k, confidence=confidence)
            points.append(PassAtKPoint(str(name), k, r.mean, r.ci_low, r.ci_high, r.n_problems))
    if not points:
        raise AnalysisError("Every k is larger than the samples per problem; lower ks.")
    return PassAtKCurve(tuple(ks), tuple(str(k) for k in checkpoints), tuple(points))
