"""``stepstone ui``: serve the read-only dashboard."""

from __future__ import annotations

import errno
import socket

import click

from stepstone.cli.common import echo, json_option, lab_option, print_json
from stepstone.errors import UsageError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve a lab beyond this machine without a token, and a blank token."""
    if token is not None and not token.strip():
        raise UsageError("--token is blank: give a real secret, e.g. "
                         "--token \"$(openssl rand -hex 16)\"")
    if host not in LOCAL_HOSTS and not token:
        raise UsageError(
            f"binding {host} would show this lab to other machines: pass --token T "
            "(or set STEPSTONE_UI_TOKEN), or keep the default --host 127.0.0.1"
        )


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but 127.0.0.1/localhost needs --token.")
@click.option("--port", default=8420, show_default=True, type=click.IntRange(0, 65535),
              help="Port to serve on.")
@click.option("--token", default=None, envvar="STEPSTONE_UI_TOKEN", metavar="T",
              help="Require this token on every request (default: $STEPSTONE_UI_TOKEN).")
@lab_option
@json_option
def ui_cmd(host: str, port: int, token: str | None, lab: str | None, as_json: bool) -> None:
    """Serve the dashboard (runs, curves, compare, questions, baselines, notebook).

    Read-only: the dashboard never changes the lab. It binds 127.0.0.1 unless told
    otherwise; binding any other address needs --token, and then every request must
    carry it (open the printed URL once: the token becomes a cookie). A port in use is
    one error before anything is served; --port 0 takes a free one (--json prints the URL).

    \b
    Example:
      stepstone ui
      stepstone ui --port 9000 --lab ~/research/attention
      stepstone ui --host 0.0.0.0 --token "$(openssl rand -hex 16)"
    """
    check_binding(host, token)
    try:
        import uvicorn

        from stepstone.web.app import create_app
        from stepstone.web.auth import LOCAL_HOSTS as HOST_NAMES
    except ImportError as exc:
        raise UsageError(
            f"the dashboard needs its extra: pip install 'stepstone[ui]' ({exc.name} is missing)"
        ) from exc
    allowed = list(HOST_NAMES) if host in LOCAL_HOSTS and not token else None
    app = create_app(lab, token=token, allowed_hosts=allowed)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/runs" + (f"?token={token}" if token else "")
    if as_json:
        print_json({"url": url, "host": host, "port": port})
    else:
        echo(f"stepstone dashboard on {url} (read-only; Ctrl+C stops it)")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (what uvicorn then serves on), or one UsageError
    when the port is taken or the address is not this machine's."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise UsageError(f"cannot serve on {host}: {exc.strerror or exc}") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is in use (another `stepstone ui`?): "
                             "pass --port N, or --port 0 for a free one") from None
        raise UsageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock
