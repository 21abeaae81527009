"""``optiscope serve``: the live playground, a local web page over the JSON API.

Registered on ``optiscope.cli.app`` when this module is imported (``cli.py`` imports it).
Bound to loopback (127.0.0.1) by default; any other address prints a warning first, since
anyone who can reach it can run computations. Ctrl-C stops the server cleanly (uvicorn's
own shutdown, exit status 0).
"""

from __future__ import annotations

import ipaddress
import threading
import webbrowser
from typing import Annotated

import typer

from optiscope.cli import app, err, out
from optiscope.errors import OptiscopeError
from optiscope.output import printable

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
BROWSER_DELAY = 1.0  # seconds between the start and opening the browser (the server is up)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def address_of(host: str, port: int) -> str:
    """``http://HOST:PORT/`` (IPv6 addresses in brackets)."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def check_port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise OptiscopeError(f"invalid --port: {port} (valid: 0 to 65535)")
    return port


def exposure_warning(host: str) -> str | None:
    """The warning printed when the server is reachable from elsewhere; None on loopback."""
    if is_loopback(host):
        return None
    return (
        f"warning: bound to {printable(host)}: anyone on the network can run computations "
        "here (use --host 127.0.0.1 to keep it on this machine)"
    )


@app.command("serve")
def serve_command(
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Address to listen on (loopback).")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="Port to listen on.")] = (
        DEFAULT_PORT
    ),
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default web browser.")
    ] = False,
) -> None:
    """Serve the live playground: a page with sliders over the run, theory and explain API.

    Then open the printed address in a browser. The API is documented at /docs.

    Examples:

    \b
      optiscope serve
      optiscope serve --port 8080 --open
    """
    import uvicorn

    from optiscope.web.app import create_app

    check_port(port)
    url = address_of(host, port)
    out.print(f"optiscope playground: {url}", markup=False, highlight=False)
    warning = exposure_warning(host)
    if warning:
        err.print(warning, markup=False, highlight=False, soft_wrap=True)
    if open_browser:
        threading.Timer(BROWSER_DELAY, webbrowser.open, args=(url,)).start()
    config = uvicorn.Config(create_app(), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    try:
        server.run()
    except OSError as e:  # the port is taken, or the address is not this machine's
        raise OptiscopeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    except SystemExit:  # uvicorn's answer to a port it cannot bind (it logged why)
        raise OptiscopeError(f"cannot listen on {host}:{port} (is the port in use?)") from None
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        raise typer.Exit(130) from None
