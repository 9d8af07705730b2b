"""The MCP server over a lab: stdio for an agent that starts it, or streamable HTTP bound to
this machine under the dashboard's token rules (:mod:`stepstone.web.auth`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from stepstone import __version__
from stepstone.mcp.tools import LabTools
from stepstone.store.lab import connect, find_store
from stepstone.web.auth import host_allowed, supplied_token, token_matches

INSTRUCTIONS = """\
stepstone holds a lab of ML runs and the research method around them. Work in stones:
add an idea (idea_add; read `similar`: it may have been tried and dropped), ask a question
with its metric, decision rule, time box and compute budget (question_new), check the config
against its baseline (plan), launch runs or a ladder for the question (launch_run,
launch_ladder: refused past the time box or the budget), read each run (run_digest), then
decide (decide: a proposal with reasons; with a conclusion it is recorded). Write your
reasoning as notes (note). The notebook is append-only; nothing you do deletes anything.
"""


def build_server(lab: str | None, *, workers: int = 1,
                 env: Mapping[str, str] | None = None) -> MCPServer[Any]:
    """The server with every tool and resource over the lab ``lab`` (checked now: a lab that
    cannot be opened is one clear error before any client connects); ``env`` goes to every
    run an agent launches (the health monitor's settings)."""
    connect(find_store(lab), readonly=True).close()
    server: MCPServer[Any] = MCPServer(name="stepstone", version=__version__,
                                       instructions=INSTRUCTIONS, log_level="WARNING")
    LabTools(lab, workers=workers, env=env).register(server)
    return server


class _Guard:
    """ASGI: a request without the token (when there is one) or with an unexpected ``Host``
    is refused before it reaches the MCP app."""

    def __init__(self, app: ASGIApp, token: str | None,
                 allowed_hosts: Sequence[str] | None) -> None:
        self.app, self.token, self.allowed_hosts = app, token, allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = HTTPConnection(scope)
            refused = host_allowed(request, self.allowed_hosts)
            answer = None
            if refused is not None:
                answer = JSONResponse({"error": f"unexpected Host header {refused!r}"}, 400)
            elif self.token is not None and not token_matches(supplied_token(request)[0],
                                                              self.token):
                answer = JSONResponse({"error": "this server needs its token: send an "
                                                "Authorization: Bearer header"}, 401)
            if answer is not None:
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_app(server: MCPServer[Any], *, token: str | None,
             allowed_hosts: Sequence[str] | None) -> ASGIApp:
    """The streamable HTTP app at ``/mcp`` behind the dashboard's token rules (which check the
    ``Host`` header themselves: the SDK's own check, which knows no token, is off)."""
    unchecked = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return _Guard(server.streamable_http_app(streamable_http_path="/mcp",
                                             transport_security=unchecked),
                  token, allowed_hosts)
