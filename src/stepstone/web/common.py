"""Shared by the dashboard's route modules: the lab of a request, templates, errors, JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from stepstone.display import cell, duration, nbytes, span, when
from stepstone.errors import LabError, NotFoundError, StepstoneError, UsageError
from stepstone.store.lab import Lab
from stepstone.store.pool import LabPool
from stepstone.web import markdown

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
)
BADGE = {
    "running": "live", "finished": "ok", "failed": "bad", "crashed": "bad", "killed": "bad",
    "abandoned": "muted", "open": "live", "answered": "ok", "parked": "muted", "picked": "live",
    "tested": "live", "adopted": "ok", "dropped": "muted",
}


TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["span"] = span
TEMPLATES.env.filters["duration"] = duration
TEMPLATES.env.filters["num"] = cell
TEMPLATES.env.filters["bytes"] = nbytes
TEMPLATES.env.filters["markdown"] = markdown.render


TEMPLATES.env.globals["badge"] = lambda status: BADGE.get(str(status), "muted")
TEMPLATES.env.globals["badges"] = BADGE  # handed to scripts (base.html), so JS keeps no copy


def lab_of(request: Request) -> Iterator[Lab]:
    """The app's lab, read-only, for one request (a FastAPI dependency): borrowed from the
    app's pool of open connections, and given back after the response."""
    labs: LabPool = request.app.state.labs
    with labs.borrow() as lab:
        yield lab


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/name`` with ``context`` (autoescaped)."""
    context.setdefault("nav", name.split(".")[0])
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


def error_body(status: int, message: str) -> dict[str, Any]:
    """The one error shape of every API endpoint."""
    return {"error": {"status": status, "message": message}}


def status_of(exc: Exception) -> tuple[int, str]:
    """The HTTP status and the message for an exception."""
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, str(exc.detail)
    if isinstance(exc, RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return 400, "bad request: " + "; ".join(parts)
    if isinstance(exc, NotFoundError):
        return 404, str(exc)
    if isinstance(exc, UsageError):
        return 400, str(exc)
    if isinstance(exc, LabError):
        return 503, str(exc)
    if isinstance(exc, StepstoneError):
        return 400, str(exc)
    return 500, f"internal error ({type(exc).__name__}); the server log has the details"


def error_response(request: Request, status: int, message: str) -> Response:
    """JSON for ``/api/...`` (and clients that ask for JSON), an HTML page otherwise."""
    wants_json = request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
        "accept", ""
    )
    if wants_json:
        return JSONResponse(error_body(status, message), status_code=status)
    return page(request, "error.html", status_code=status, status=status, message=message,
                nav="error")


