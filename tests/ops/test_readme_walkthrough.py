"""The README's walk-through, as a newcomer runs it: `serve --demo` started in an
empty folder, then every block marked for the walk-through pasted in order,
twice, each answer checked against the `# →` comments (tests/support/walkthrough.py)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from tests.support import walkthrough
from tests.support.net import free_ports
from tests.support.processes import DATABASE_VARIABLES, scratch_folder, wait_until_healthy


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
    with scratch_folder("readme") as path:
        bin_dir = path / "work" / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        command = bin_dir / "navixy-panel"
        command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m navixy_panel "$@"\n')
        command.chmod(command.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        yield path


def test_readme_walkthrough_runs_twice_as_written(folder: Path) -> None:
    blocks = walkthrough.blocks()
    assert [block.heading for block in blocks] == [
        "Trying the Navixy face", "Managing gateways", "Trying the Webitel face",
        "Sending mail through the dealer's gateway", "Submitting over SMTP",
        "Trying the command line"]
    # Ports of its own: a `serve --demo` may be running beside the suite on the
    # README's 8080, 1025, 2525 and 2587; the blocks are rewritten to these.
    port, own_smtp, relay_smtp, submission = free_ports(4)
    sink_line = f"demo SMTP sink 127.0.0.1:{own_smtp}: message from "
    env = {**os.environ}
    for name in DATABASE_VARIABLES:
        env.pop(name, None)
    server_env = {**env, "NAVIXY_PANEL_SUBMISSION_PORT": str(submission)}
    work = folder / "work"
    server = subprocess.Popen([".venv/bin/navixy-panel", "serve", "--demo", "--port", str(port),
                               "--demo-smtp-ports", f"{own_smtp},{relay_smtp}"],
                              cwd=work, env=server_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    output = Output(server)
    try:
        wait_until_healthy(server, port, output=output.text)
        for attempt in (1, 2):
            received = output.text().count(sink_line)
            for block in blocks:
                done, problems = walkthrough.run(block, (port, own_smtp, relay_smtp, submission),
                                                 cwd=work, env=env)
                assert not problems and not done.stderr, (
                    f"run {attempt}, block {block.heading!r}:\n  "
                    + "\n  ".join(problems) + f"\nstderr: {done.stderr}")
            # one message from "Managing gateways", one from the Webitel face, one
            # queued over HTTP, one submitted over SMTP (delivered a moment after its 250)
            deadline = time.monotonic() + 10
            while output.text().count(sink_line) < received + 4:
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
    assert "  | Subject: Test message from navixy-panel" in text
    assert "  | To: ops@example.org" in text
    assert "  | Subject: Invoice 42" in text and "  | Reply-To: billing@platform.example" in text
    assert "alembic" not in text
    assert "Traceback" not in text
    assert text.count("running as root") <= 1  # serve's warning only, not every command's
    assert text.rstrip().endswith("embedded PostgreSQL stopped"), text[-500:]
