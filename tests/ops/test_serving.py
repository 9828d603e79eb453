"""`navixy-panel serve` as a process: graceful SIGTERM, several workers on one
port, and taking over the embedded PostgreSQL a killed process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.net import free_port, free_ports, http
from tests.support.processes import postmasters, wait_until_healthy
from tests.support.smtp import silent_server


def environment(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "NAVIXY_PANEL_DATA_DIR": str(data_dir),
           "NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS": "127.0.0.0/8"}  # the silent SMTP server
    env.pop("DATABASE_URL", None)
    return env


@contextmanager
def serving(data_dir: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "navixy_panel", "serve", "--port",
                                str(port), *extra], env=environment(data_dir), cwd=data_dir,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_healthy(process, port, within=60)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> Any:
    done = subprocess.run([sys.executable, "-m", "navixy_panel", *args], input=stdin,
                          capture_output=True, text=True, env=environment(data_dir), timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_sigterm_finishes_in_flight_requests_then_stops_the_database(data_dir: Path) -> None:
    with silent_server() as smtp_port, serving(data_dir) as (process, base):
        cli(data_dir, "dealer", "create", "--login", "d1", "--password", "pw-1234",
            "--permissions", "all")
        gateway = cli(data_dir, "gateway", "create", "--owner", "d1", "--label", "slow",
                      "--params", json.dumps({"mail.smtp.host": "127.0.0.1",
                                              "mail.smtp.port": smtp_port,
                                              "mail.smtp.connectiontimeout": 2000,
                                              "default_from_address": "a@d1.example"}))
        login = http(base + "/v2/panel/account/auth", b"login=d1&password=pw-1234")
        headers = {"Authorization": f"NVX {login['hash']}"}
        outcome: dict[str, Any] = {}

        def slow_send() -> None:
            outcome["answer"] = post(base + "/v2/panel/gateways/email/send_email",
                                     f"to=x@example.org&gateway_id={gateway['id']}".encode(),
                                     headers)

        sender = threading.Thread(target=slow_send)
        sender.start()
        time.sleep(0.7)  # the send is now waiting on the silent server
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(OSError):  # no new connections once shutdown began
            http(base + "/health")
        sender.join(timeout=30)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    status, body = outcome["answer"]
    assert (status, body["status"]["code"]) == (400, 209)  # finished, not cut off
    assert postmasters(data_dir) == []


def test_workers_share_one_port(data_dir: Path) -> None:
    own_smtp, relay_smtp = free_ports(2)
    with serving(data_dir, "--workers", "2", "--demo",
                 "--demo-smtp-ports", f"{own_smtp},{relay_smtp}") as (process, base):
        parent = psutil.Process(process.pid)
        deadline = time.monotonic() + 30
        while True:
            children = [c for c in parent.children() if "serve" in " ".join(c.cmdline())]
            listening = [c for c in children
                         if any(conn.status == psutil.CONN_LISTEN
                                for conn in c.net_connections(kind="tcp"))]
            if len(listening) == 2:
                break
            assert time.monotonic() < deadline, "two listening workers expected"
            time.sleep(0.2)
        for _ in range(20):  # a new connection each time; all workers answer alike
            login = http(base + "/v2/panel/account/auth",
                         b"login=dealer&password=dealer-demo-password")
            listed = http(base + "/v2/panel/gateways/email/list",
                          headers={"Authorization": f"NVX {login['hash']}"})
            assert [g["label"] for g in listed["own"]] == ["Own SMTP"]
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert postmasters(data_dir) == []


def test_a_killed_service_leaves_a_server_the_next_start_takes_over(data_dir: Path) -> None:
    with serving(data_dir) as (process, _):
        process.kill()  # SIGKILL: no chance to stop PostgreSQL
        process.wait()
    [orphan] = postmasters(data_dir)
    with serving(data_dir) as (process, base):
        assert http(base + "/ready") == {"status": "ok", "database": "ok"}
        assert [p.pid for p in postmasters(data_dir)] == [orphan.pid]  # taken over, not doubled
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
    assert postmasters(data_dir) == []
