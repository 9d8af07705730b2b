"""The research method: every rule of it in one place (the CLI, the SDK and the dashboard
call it). One module per concept: ``ideas``, ``questions``, ``baselines``, ``launch``
(verification before launch), ``runs`` (finished or abandoned), ``notebook``, ``decide``,
``evidence`` (a question's scaling evidence), ``suites``, ``lints``, ``status`` and
``rules`` (the decision-rule language, see docs/rules.md).

The package itself imports nothing, so that the SDK can use one rule (the precision
lints at ``init``) without loading the others.
"""
