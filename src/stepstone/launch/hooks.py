"""Where the research method plugs into planning.

Before a plan is saved, every planned run's config can be checked against its
baseline: the method code registers a factory that, given the lab, the baseline
(``--baseline small`` or ``small@2026-11-21``) and the keys of the feature under
test (``--feature``), returns a :data:`~stepstone.launch.plan.Verifier`: a function
that takes a planned run's resolved config and returns ``(config, problems)``,
the config to run (e.g. the baseline's frozen config with the run's overrides)
and the diff problems found (an empty list when the run is clean).

    from stepstone.launch.hooks import register_verifier_factory
    register_verifier_factory(lambda lab, baseline, features: my_verifier)

The question (``--question``) and the baseline travel on the plan to every run
(``question_id``, ``baseline``, ``config_delta``) whether or not a factory is set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stepstone.launch.plan import Verifier
from stepstone.store.lab import Lab

VerifierFactory = Callable[[Lab, str, Sequence[str]], Verifier | None]

_factory: VerifierFactory | None = None


def register_verifier_factory(factory: VerifierFactory | None) -> None:
    """Set (or, with None, clear) the factory that makes baseline verifiers."""
    global _factory
    _factory = factory


def make_verifier(lab: Lab, baseline: str | None, features: Sequence[str] = ()) -> Verifier | None:
    """The verifier for runs against ``baseline``, or None when there is nothing to check."""
    if baseline is None or _factory is None:
        return None
    return _factory(lab, baseline, list(features))
