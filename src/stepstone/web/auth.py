"""Who may talk to a server over a lab: the token rules of the dashboard, also used by the MCP
server's HTTP transport.

A server binds 127.0.0.1 unless told otherwise (``stepstone.cli.ui.check_binding`` refuses
any other address without a token). With a token every request must carry it: ``?token=T``,
an ``Authorization: Bearer T`` or ``X-Stepstone-Token: T`` header, or the ``stepstone_token``
cookie. Without one, on a loopback address, requests whose ``Host`` is not a loopback name
are refused (a DNS-rebinding defence).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from starlette.requests import HTTPConnection

COOKIE = "stepstone_token"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def supplied_token(request: HTTPConnection) -> tuple[str | None, bool]:
    """The token a request carries, and whether it came in the query string."""
    supplied = request.query_params.get("token")
    if supplied is not None:
        return supplied, True
    supplied = request.headers.get("x-stepstone-token")
    if supplied is None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            supplied = auth[7:].strip()
    if supplied is None:
        supplied = request.cookies.get(COOKIE)
    return supplied, False


def token_matches(supplied: str | None, token: str) -> bool:
    """Whether ``supplied`` is ``token`` (compared in constant time)."""
    return supplied is not None and hmac.compare_digest(supplied.encode(), token.encode())


def host_allowed(request: HTTPConnection, allowed_hosts: Sequence[str] | None) -> str | None:
    """The refused ``Host`` header's name, or None when the request may go on."""
    if allowed_hosts is None:
        return None
    host = (request.headers.get("host") or "").rsplit(":", 1)[0]
    return None if host in allowed_hosts else host
