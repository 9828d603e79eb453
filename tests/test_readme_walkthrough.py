"""The README's walk-through, as a newcomer runs it: `serve --demo` started in an
empty folder, then every block marked for the walk-through pasted in order,
twice, each answer checked against the `# →` comments (tests/walkthrough.py)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from tests import walkthrough
from tests.test_cli import free_port, http
from tests.test_serving import postmasters

SINK_PORTS = (1025, 2525)  # the demo gateways' ports, where `serve --demo` runs its sink
SINK_LINE = "demo SMTP sink 127.0.0.1:1025: message from "


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Output:
    """Collects a process's output as it comes (the sink prints while we wait)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        self._reader = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._reader.start()

    def text(self) -> str:
        return "".join(self.lines)

    def join(self) -> None:
        self._reader.join(timeout=30)


@pytest.fixture
def folder() -> Iterator[Path]:
    """An empty folder standing for the newcomer's project folder (`work`), with the
    `.venv/bin/navixy-panel` the README's first command installs, running this checkout."""
    path = Path(tempfile.mkdtemp(prefix="navixy-panel-test-readme-"))
    bin_dir = path / "work" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    command = bin_dir / "navixy-panel"
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m navixy_panel "$@"\n')
    command.chmod(command.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    yield path
    for process in postmasters(path):
        process.send_signal(signal.SIGINT)
    shutil.rmtree(path, ignore_errors=True)


def test_readme_walkthrough_runs_twice_as_written(folder: Path) -> None:
    blocks = walkthrough.blocks()
    assert [block.heading for block in blocks] == [
        "Trying the Navixy face", "Managing gateways", "Trying the Webitel face",
        "Trying the command line"]
    deadline = time.monotonic() + 30  # another test's service may still be letting go
    while not all(port_free(port) for port in SINK_PORTS) and time.monotonic() < deadline:
        time.sleep(0.5)
    sink_ours = all(port_free(port) for port in SINK_PORTS)
    if not sink_ours:
        warnings.warn("ports 1025/2525 are taken on this machine: the demo's SMTP sink "
                      "cannot start, so what it prints is not checked", stacklevel=1)

    env = {**os.environ}
    for name in ("DATABASE_URL", "NAVIXY_PANEL_DATA_DIR", "NAVIXY_PANEL_SECRET_KEY"):
        env.pop(name, None)
    port = free_port()
    work = folder / "work"
    server = subprocess.Popen([".venv/bin/navixy-panel", "serve", "--demo", "--port", str(port)],
                              cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    output = Output(server)
    try:
        started = time.monotonic()
        while True:
            try:
                http(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert server.poll() is None, output.text()
                assert time.monotonic() - started < 90, output.text()
                time.sleep(0.1)
        for attempt in (1, 2):
            received = output.text().count(SINK_LINE)
            for block in blocks:
                done, problems = walkthrough.run(block, port, cwd=work, env=env)
                assert not problems and not done.stderr, (
                    f"run {attempt}, block {block.heading!r}:\n  "
                    + "\n  ".join(problems) + f"\nstderr: {done.stderr}")
            if sink_ours:  # one message from "Managing gateways", one from the Webitel face
                deadline = time.monotonic() + 5
                while output.text().count(SINK_LINE) < received + 2:
                    assert time.monotonic() < deadline, output.text()
                    time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        output.join()
    text = output.text()
    assert server.returncode == 0, text
    data_dir = (work / ".navixy-panel").resolve()
    # what the README says of the first line, of all `serve` prints (stdout and stderr)
    assert text.splitlines()[0] == (
        f"navixy-panel {metadata.version('navixy-panel')}: creating a new database in "
        f"{data_dir} (NAVIXY_PANEL_DATA_DIR unset: ./.navixy-panel in the current folder)")
    assert "login 'dealer' password 'dealer-demo-password'" in text
    if sink_ours:
        assert "  | Subject: Test message from navixy-panel" in text
        assert "  | To: ops@example.org" in text
    assert "alembic" not in text
    assert "Traceback" not in text
    assert text.count("running as root") <= 1  # serve's warning only, not every command's
    assert text.rstrip().endswith("embedded PostgreSQL stopped"), text[-500:]
