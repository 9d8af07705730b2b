"""The dashboard: a read-only FastAPI app over one lab (``stepstone ui``).

:func:`stepstone.web.app.create_app` builds it; see docs/dashboard.md.
"""
