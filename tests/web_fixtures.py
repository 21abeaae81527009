"""The playground served on loopback and a real browser driving it, for the browser tests.

- :class:`LiveServer`: ``optiscope.web.app.create_app()`` under ``uvicorn.Server`` in a thread,
  bound to 127.0.0.1 on a free port, stopped by :meth:`LiveServer.stop`;
- :func:`launch_chromium`: Debian's ``/usr/bin/chromium`` headless through Playwright's sync
  API, with a fresh user-data folder and no background traffic (never Playwright's own
  browser download).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The playground app served by uvicorn in a background thread on 127.0.0.1."""

    def __init__(self) -> None:
        import uvicorn

        from optiscope.web.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="playground", daemon=True)

    def start(self) -> LiveServer:
        """Start serving; returns once the server accepts connections (or raises)."""
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the playground did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Chromium:
    """Playwright (sync API) with Debian's chromium; :meth:`close` ends both."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self.profile = tempfile.mkdtemp(prefix="optiscope-chromium-")
        self.playwright = sync_playwright().start()
        self.context = self.playwright.chromium.launch_persistent_context(
            self.profile,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 800},
        )

    def close(self) -> None:
        self.context.close()
        self.playwright.stop()
        shutil.rmtree(self.profile, ignore_errors=True)
