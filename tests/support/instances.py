"""`navixy-panel serve` as a delivering process on the test database, for tests that
kill it: the process never owns the database (DATABASE_URL is the suite's), so a
`kill -9` leaves the server running for the next instance, as in production.

Its output goes to a file in its folder (a pipe nobody reads would fill and stall
it), shown when it fails to start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.database import TEST_KEY
from tests.support.net import free_port
from tests.support.processes import wait_until_ready


@dataclass
class Instance:
    process: subprocess.Popen[str]
    base: str  # http://127.0.0.1:PORT
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def environment(database_url: str, folder: Path, **settings: str) -> dict[str, str]:
    """The test's environment pointed at the test database; `settings` are more
    NAVIXY_PANEL_… variables, e.g. DELIVERY_LEASE="3"."""
    env = {**os.environ, "DATABASE_URL": database_url, "NAVIXY_PANEL_SECRET_KEY": TEST_KEY,
           "NAVIXY_PANEL_DATA_DIR": str(folder),
           "NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS": "127.0.0.0/8"}  # the test relays
    env.update({f"NAVIXY_PANEL_{name}": value for name, value in settings.items()})
    return env


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], folder: Path, name: str) -> AsyncIterator[Instance]:
    """A `serve` (no migrations: the suite made the schema) until it answers /ready;
    afterwards stopped with SIGTERM, or SIGKILL when it does not end within 30 s, if
    the test has not killed it already."""
    port = free_port()
    log = folder / f"{name}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "navixy_panel", "serve", "--port", str(port),
             "--no-migrate"], env=env, cwd=folder, stdout=output, stderr=subprocess.STDOUT,
            text=True)
    instance = Instance(process, f"http://127.0.0.1:{port}", log)
    try:
        try:
            await asyncio.to_thread(wait_until_ready, process, port)
        except AssertionError:
            raise AssertionError(instance.output()) from None
        yield instance
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # in case the test left it stopped
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
