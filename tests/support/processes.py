"""The `navixy-panel` command as real processes: running it, waiting for a started
service, and folders of their own that are cleaned up whatever happened.

Every process runs in a fresh temporary folder unless a test gives one, so no
test reads or writes the `.navixy-panel` of the folder the suite was started in
(a `serve --demo` may be using it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.support.database import TEST_DIR_PREFIX
from tests.support.net import http

# What would point a command at a database other than the one a test chose.
DATABASE_VARIABLES = ("DATABASE_URL", "NAVIXY_PANEL_DATA_DIR", "NAVIXY_PANEL_SECRET_KEY")


def run(*args: str, database_url: str | None = None, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`navixy-panel ARGS` to its end, in the test's environment plus `env`."""
    environment = {**os.environ, **(env or {})}
    if database_url:
        environment["DATABASE_URL"] = database_url
    with tempfile.TemporaryDirectory(prefix=TEST_DIR_PREFIX + "cwd-") as cwd:
        return subprocess.run([sys.executable, "-m", "navixy_panel", *args], input=stdin,
                              capture_output=True, text=True, env=environment, cwd=cwd,
                              timeout=60)


def postmasters(data_dir: Path) -> list[psutil.Process]:
    """The PostgreSQL servers whose data directory lies in `data_dir`."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and "-D" in cmdline and str(data_dir) in " ".join(
                cmdline):
            found.append(process)
    return found


def stop_postmasters(folder: Path) -> None:
    """Never leak a server, whatever happened: stops each one started below `folder`."""
    for process in postmasters(folder):
        process.send_signal(signal.SIGINT)
    psutil.wait_procs(postmasters(folder), timeout=10)


@contextlib.contextmanager
def scratch_folder(name: str) -> Iterator[Path]:
    """A new folder for one test; its servers are stopped and it is deleted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=f"{TEST_DIR_PREFIX}{name}-")).resolve()
    try:
        yield folder
    finally:
        stop_postmasters(folder)
        shutil.rmtree(folder, ignore_errors=True)


def wait_until_healthy(process: subprocess.Popen[str], port: int, *, within: float = 90,
                       output: Callable[[], str] | None = None) -> None:
    """Polls /health of a `serve` just started on `port`; fails at once if it exits,
    showing `output` (by default what the process printed)."""
    started = time.monotonic()
    while True:
        try:
            http(f"http://127.0.0.1:{port}/health")
            return
        except OSError:
            if process.poll() is not None:
                raise AssertionError(output() if output else process.communicate()) from None
            assert time.monotonic() - started < within, output() if output else "no answer"
            time.sleep(0.1)


def wait_until_ready(process: subprocess.Popen[str], port: int, *,
                     within: float = 60) -> Any:
    """Polls /ready (the service and its database) of a `serve` just started on `port`
    and returns its answer; fails at once if the process exits."""
    started = time.monotonic()
    while True:
        assert process.poll() is None, process.communicate()
        try:
            return http(f"http://127.0.0.1:{port}/ready")
        except OSError:
            assert time.monotonic() - started < within, "not ready in time"
            time.sleep(0.2)
