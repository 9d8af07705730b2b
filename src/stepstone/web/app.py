"""The dashboard's FastAPI app: ``create_app(lab_path, token=None)``.

Read-only: every route is a GET (HEAD) and reads the lab through a read-only connection
borrowed from the app's pool (:class:`~stepstone.store.pool.LabPool`), kept open between
requests. With a token every request must carry it: ``?token=T`` once (it becomes a
cookie and the page reloads without it), the ``stepstone_token`` cookie, or an
``Authorization: Bearer T`` / ``X-Stepstone-Token: T`` header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from stepstone.errors import StepstoneError
from stepstone.store.lab import find_store
from stepstone.store.pool import LabPool
from stepstone.web import api, artifacts, media, pages_analysis, pages_method, pages_runs
from stepstone.web.auth import COOKIE, host_allowed, supplied_token, token_matches
from stepstone.web.common import HERE, error_response, status_of

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def plotly_script() -> Path:
    """plotly's bundled script, from the installed package (never a CDN)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def create_app(
    lab_path: str | Path | None,
    token: str | None = None,
    *,
    allowed_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The dashboard over the lab at ``lab_path`` (a folder, a ``.stepstone`` folder or URL).

    ``token``: when given, every request must carry it. ``allowed_hosts``: when given,
    requests whose ``Host`` is not one of them are refused (DNS-rebinding defence).
    """
    labs = LabPool(find_store(lab_path), readonly=True)
    with labs.borrow():  # fail now, with a clear error, not on the first page
        pass

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        labs.close()

    app = FastAPI(title="stepstone", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.labs = labs
    app.state.token = token

    async def handle_error(request: Request, exc: Exception) -> Response:
        status, message = status_of(exc)
        return error_response(request, status, message)

    for kind in (StarletteHTTPException, RequestValidationError, StepstoneError, Exception):
        app.add_exception_handler(kind, handle_error)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.method not in ("GET", "HEAD"):
            return error_response(request, 405, "the dashboard is read-only: GET requests only")
        refused = host_allowed(request, allowed_hosts)
        if refused is not None:
            return error_response(request, 400, f"unexpected Host header {refused!r}")
        from_query = False
        if token is not None:
            supplied, from_query = supplied_token(request)
            if not token_matches(supplied, token):
                return error_response(
                    request, 401,
                    "this dashboard needs its token: open the URL `stepstone ui` printed "
                    "(?token=...) or send an Authorization: Bearer header",
                )
        head = request.method == "HEAD"
        if head:  # every route is a GET: answer HEAD as GET, without the body
            request.scope["method"] = "GET"
        if from_query and not request.url.path.startswith("/api/"):
            # keep the token out of the address bar and history: cookie, then a clean URL
            query = urlencode([(k, v) for k, v in request.query_params.multi_items()
                               if k != "token"])
            response: Response = RedirectResponse(
                request.url.path + (f"?{query}" if query else ""), status_code=303
            )
        else:
            response = await call_next(request)
        if from_query and token is not None:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if head:
            bare = Response(status_code=response.status_code)
            bare.raw_headers = response.raw_headers  # Content-Length and all, as for GET
            return bare
        return response

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_script(), media_type="text/javascript",
                            headers={"Cache-Control": "max-age=86400"})

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages_analysis.api_router)  # before api.router's catch-all
    app.include_router(media.api_router)
    app.include_router(artifacts.api_router)
    app.include_router(api.router)
    app.include_router(pages_runs.router)
    app.include_router(pages_method.router)
    app.include_router(pages_analysis.router)
    return app
