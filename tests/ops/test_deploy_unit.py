"""deploy/navixy-panel.service, as docs/production.md installs it. systemd cannot run
here, so: `systemd-analyze verify` accepts the unit (with ExecStart pointing at this
installation), and the recipe is followed from an empty database: the environment
file, `migrate`, `dealer create`, then the unit's own ExecStart command line (its
--host, --workers and --no-migrate; only the port is changed) serves a login and a
list, and stops cleanly on SIGTERM within the unit's TimeoutStopSec.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.support.net import free_port
from tests.support.processes import wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "navixy-panel.service"
INSTALLED = "/opt/navixy-panel/venv/bin/navixy-panel"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            name, _, value = line.partition("=")
            found.setdefault(name.strip(), []).append(value.strip())
    return found


def this_installation() -> str:
    found = Path(sys.executable).parent / "navixy-panel"
    assert found.exists(), f"{found}: install the package (pip install -e .)"
    return str(found)


def test_the_unit_asks_for_what_the_recipe_says() -> None:
    unit = directives()
    assert {name: unit[name] for name in (
        "Type", "User", "Restart", "NoNewPrivileges", "PrivateTmp", "ProtectSystem",
        "EnvironmentFile", "KillSignal")} == {
        "Type": ["exec"], "User": ["navixy-panel"], "Restart": ["on-failure"],
        "NoNewPrivileges": ["yes"], "PrivateTmp": ["yes"], "ProtectSystem": ["strict"],
        "EnvironmentFile": ["/etc/navixy-panel/env"], "KillSignal": ["SIGTERM"]}
    # The workers get 30 s to finish their requests; systemd must wait longer than that.
    assert int(unit["TimeoutStopSec"][0]) > 35


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: Debian's systemd package has it")
    # verify checks that ExecStart exists: point it at this installation.
    copy = tmp_path / "navixy-panel.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED, this_installation()))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                          timeout=60, check=False)
    # It reports bad values as warnings and still exits 0: any output is a failure.
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def _post(port: int, path: str, form: dict[str, str],
          headers: dict[str, str] | None = None) -> dict[str, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     data=urllib.parse.urlencode(form).encode(),
                                     headers=headers or {}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return dict(json.loads(answer.read()))


def test_the_recipe_from_an_empty_database(create_database, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = create_database("navixy_recipe")
    # /etc/navixy-panel/env, as docs/production.md writes it.
    env_file = tmp_path / "env"
    env_file.write_text(f"DATABASE_URL={url}\nNAVIXY_PANEL_SECRET_KEY={settings.secret_keys[0]}\n"
                        "NAVIXY_PANEL_CORS_ORIGINS=https://panel.example.com\n")
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("NAVIXY_PANEL_") and k != "DATABASE_URL"}
    for line in env_file.read_text().splitlines():
        name, _, value = line.partition("=")
        environment[name] = value
    work_dir = tmp_path / "var-lib-navixy-panel"  # StateDirectory / WorkingDirectory
    work_dir.mkdir()
    executable = this_installation()

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([executable, *args], env=environment, cwd=work_dir, input=stdin,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert run("migrate") == "schema is at the latest migration\n"
    assert json.loads(run("dealer", "create", "--login", "owner", "--password-stdin",
                          stdin="owner-password-1\n")) == {"id": 1, "login": "owner"}

    command = shlex.split(directives()["ExecStart"][0])
    assert command[0] == INSTALLED
    port = free_port()
    command[0] = executable
    command[command.index("--port") + 1] = str(port)
    assert command[1:] == ["serve", "--host", "0.0.0.0", "--port", str(port), "--workers", "4",
                           "--no-migrate"]
    process = subprocess.Popen(command, env=environment, cwd=work_dir, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until_ready(process, port) == {"status": "ok", "database": "ok"}
        login = _post(port, "/v2/panel/account/auth",
                      {"login": "owner", "password": "owner-password-1"})
        assert login["success"] is True
        for _ in range(8):  # spread over the workers
            assert _post(port, "/v2/panel/gateways/email/list", {},
                         {"Authorization": f"NVX {login['hash']}"}) == {
                "success": True, "bound_gateway": None, "own": [], "leasable": []}
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=int(directives()["TimeoutStopSec"][0]))
    assert process.returncode == 0, stderr
    assert f"======== 4 workers on 0.0.0.0:{port} ========" in stdout
