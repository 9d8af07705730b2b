"""``stepstone mcp``: serve the lab and the method to an agent over MCP."""

from __future__ import annotations

from typing import Any

import click

from stepstone.cli.common import echo, lab_option, monitor_env, monitor_options
from stepstone.cli.ui import LOCAL_HOSTS, check_binding
from stepstone.errors import UsageError


@click.command("mcp")
@click.option("--http", "use_http", is_flag=True,
              help="Serve streamable HTTP at /mcp instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="--http: address to bind; anything but 127.0.0.1/localhost needs --token.")
@click.option("--port", default=8421, show_default=True, type=click.IntRange(0, 65535),
              help="--http: port.")
@click.option("--token", default=None, envvar="STEPSTONE_MCP_TOKEN", metavar="T",
              help="--http: require this token (Authorization: Bearer T) on every request "
                   "(default: $STEPSTONE_MCP_TOKEN).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Runs a ladder launched by an agent may run at once on this machine.")
@monitor_options
@lab_option
def mcp_cmd(use_http: bool, host: str, port: int, token: str | None, workers: int,
            lab: str | None, **monitor: Any) -> None:
    """Serve the lab to an MCP client (an agent): runs, digests, ideas, questions, plan,
    launch within the question's time box and compute budget, decide, notes; the notebook
    and reports as resources. stdio by default (the agent starts this command). With the
    health monitor's options (--monitor, --stop-on-alert, ...) every run an agent launches is
    watched.

    \b
    Example:
      stepstone mcp --lab ~/research/attention
      stepstone mcp --http --port 8421 --token "$(openssl rand -hex 16)"
      stepstone mcp --monitor --stop-on-alert --stall 10m
    """
    try:
        from stepstone.mcp.server import build_server, http_app
    except ImportError as exc:
        raise UsageError(f"the MCP server needs its extra: pip install 'stepstone[mcp]' "
                         f"({exc.name} is missing)") from exc
    if use_http:
        check_binding(host, token)
    server = build_server(lab, workers=workers, env=monitor_env(monitor))
    if not use_http:
        server.run("stdio")
        return
    import uvicorn

    from stepstone.web.auth import LOCAL_HOSTS as HOST_NAMES

    allowed = list(HOST_NAMES) if host in LOCAL_HOSTS and not token else None
    app = http_app(server, token=token, allowed_hosts=allowed)
    shown = f"[{host}]" if ":" in host else host
    echo(f"stepstone MCP server on http://{shown}:{port}/mcp (Ctrl+C stops it)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
