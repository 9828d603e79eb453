"""Starting the command: every problem of the environment is one line on stderr
and exit status 2; the start-up line names the database in use; the command
line is described for its users; commands are quiet."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support.api import PASSWORD, Api
from tests.support.database import TEST_KEY
from tests.support.net import free_port, http
from tests.support.processes import (
    DATABASE_VARIABLES,
    postmasters,
    scratch_folder,
    wait_until_healthy,
)


def environment_with(env: dict[str, str | None] | None) -> dict[str, str]:
    """The test's environment without any database choice, then `env` (None unsets)."""
    environment = {**os.environ}
    for name in DATABASE_VARIABLES:
        environment.pop(name, None)
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment


def command(*args: str, env: dict[str, str | None] | None = None, timeout: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """In a folder of its own (or `cwd`): a `serve` that got past its checks would
    otherwise start a database in the current folder's .navixy-panel."""
    def run(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "navixy_panel", *args], cwd=folder,
                              env=environment_with(env), capture_output=True, text=True,
                              timeout=timeout)

    if cwd is not None:
        return run(cwd)
    with scratch_folder("command") as folder:
        return run(folder)


def refused(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit status 2 and one line on stderr holding every fragment; no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------ item: start-up problems

def test_port_out_of_range_is_refused_by_the_option_parser(data_dir: Path) -> None:
    for given in ("70000", "0", "http"):
        done = command("serve", "--port", given, env={"NAVIXY_PANEL_DATA_DIR": str(data_dir)})
        refused(done, "--port", "must be a number from 1 to 65535", "--help")
    assert not (data_dir / "pgdata").exists()  # refused before anything started


def test_port_in_use(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = command("serve", "--port", str(port),
                       env={"NAVIXY_PANEL_DATA_DIR": str(data_dir)})
    refused(done, f"cannot listen on 127.0.0.1:{port}", "already in use", "--port")
    assert not (data_dir / "pgdata").exists()


def test_host_that_does_not_resolve_or_is_not_ours(data_dir: Path) -> None:
    env = {"NAVIXY_PANEL_DATA_DIR": str(data_dir)}
    refused(command("serve", "--host", "no-such-host.invalid", "--port", str(free_port()),
                    env=env),
            "no-such-host.invalid", "does not resolve", "--host")
    refused(command("serve", "--host", "192.0.2.1", "--port", str(free_port()),
                    env=env),  # TEST-NET-1: nobody's
            "192.0.2.1 is not an address of this machine", "--host")


def test_data_dir_that_is_a_file(data_dir: Path) -> None:
    file = data_dir / "a-file"
    file.write_text("not a folder")
    for args in (["serve", "--port", str(free_port())], ["migrate"],
                 ["dealer", "create", "--login", "x", "--password", "y"]):
        refused(command(*args, env={"NAVIXY_PANEL_DATA_DIR": str(file)}),
                f"the data directory {file} is not a directory", "NAVIXY_PANEL_DATA_DIR")
    refused(command("serve", "--port", str(free_port()),
                    env={"NAVIXY_PANEL_DATA_DIR": str(file / "below")}),
            f"cannot write to the data directory {file / 'below'}", "NAVIXY_PANEL_DATA_DIR")


def test_data_dir_that_cannot_be_written(data_dir: Path) -> None:
    if os.geteuid() == 0:  # root writes anywhere but on a read-only file system
        target = Path("/sys/navixy-panel-test")
        if not Path("/sys/kernel").is_dir():
            pytest.skip("running as root without /sys: no folder root cannot write")
    else:
        locked = data_dir / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "data"
    refused(command("serve", "--port", str(free_port()),
                    env={"NAVIXY_PANEL_DATA_DIR": str(target)}),
            f"cannot write to the data directory {target}", "NAVIXY_PANEL_DATA_DIR")


def test_database_that_refuses_connections() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    done = command("serve", "--port", str(free_port()), env={
        "DATABASE_URL": f"postgresql://panel:s3cret-pw@127.0.0.1:{port}/panel",
        "NAVIXY_PANEL_SECRET_KEY": Fernet.generate_key().decode()})
    line = refused(done, f"postgresql://panel:***@127.0.0.1:{port}/panel",
                   "connection refused", "DATABASE_URL")
    assert "s3cret-pw" not in line
    assert time.monotonic() - started < 30


def test_database_that_does_not_answer() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        done = command("migrate", env={
            "DATABASE_URL": f"postgresql://panel:s3cret-pw@127.0.0.1:{port}/panel",
            "NAVIXY_PANEL_SECRET_KEY": Fernet.generate_key().decode()})
        elapsed = time.monotonic() - started
    refused(done, f"postgresql://panel:***@127.0.0.1:{port}/panel", "no answer within 5 s")
    assert 4 < elapsed < 30


def test_secret_key_missing_or_malformed(database_url: str) -> None:
    refused(command("serve", "--port", str(free_port()), env={"DATABASE_URL": database_url}),
            "NAVIXY_PANEL_SECRET_KEY is required when DATABASE_URL is set",
            "make one with `navixy-panel key generate`",
            "keep it apart from the database backups")
    refused(command("serve", "--port", str(free_port()),
                    env={"DATABASE_URL": database_url, "NAVIXY_PANEL_SECRET_KEY": "not-a-key"}),
            "NAVIXY_PANEL_SECRET_KEY entry 1 is not a Fernet key",
            "make one with `navixy-panel key generate`")


def test_key_generate_prints_a_usable_key_without_a_database(data_dir: Path) -> None:
    first, second = (command("key", "generate", cwd=data_dir) for _ in range(2))
    for done in (first, second):
        assert (done.returncode, done.stderr) == (0, "")
        assert len(done.stdout.splitlines()) == 1
        Fernet(done.stdout.strip().encode())  # raises if it is not a key
    assert first.stdout != second.stdout
    assert not (data_dir / ".navixy-panel").exists()


async def test_secret_key_that_cannot_open_the_stored_passwords(api: Api,
                                                                database_url: str) -> None:
    from navixy_panel.security.secret_box import SecretBox

    owner = await api.dealer("owner")
    await api.gateway(owner, box=SecretBox([TEST_KEY]), **{"mail.smtp.auth": True,
                                                          "mail.smtp.user": "u",
                                                          "mail.smtp.password": PASSWORD})
    done = command("serve", "--port", str(free_port()), "--no-migrate", env={
        "DATABASE_URL": database_url, "NAVIXY_PANEL_SECRET_KEY": Fernet.generate_key().decode()})
    refused(done, "cannot be decrypted", "NAVIXY_PANEL_SECRET_KEY")


def test_bad_environment_variable_is_one_line_per_problem() -> None:
    done = command("serve", "--port", str(free_port()), env={"NAVIXY_PANEL_LOG_FORMAT": "xml"})
    refused(done, "NAVIXY_PANEL_LOG_FORMAT: must be one of text, json, got 'xml'")


# ------------------------------------------------------------ item: the start-up line

def serve_once(data_dir: Path, env: dict[str, str | None] | None = None,
               cwd: Path | None = None) -> tuple[str, str]:
    """Starts `serve` (in `cwd`, else in `data_dir`), waits for /health, stops it with
    SIGTERM: (stdout, stderr)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "navixy_panel", "serve", "--port",
                                str(port)], cwd=cwd or data_dir,
                               env=environment_with({"NAVIXY_PANEL_DATA_DIR": str(data_dir),
                                                     **(env or {})}),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_healthy(process, port)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    return stdout, stderr


def test_startup_line_names_the_data_directory_and_says_when_it_is_new(
        data_dir: Path) -> None:
    work = data_dir / "somewhere"
    work.mkdir()
    # NAVIXY_PANEL_DATA_DIR unset: the default follows the current folder
    stdout, stderr = serve_once(data_dir, env={"NAVIXY_PANEL_DATA_DIR": None}, cwd=work)
    folder = (work / ".navixy-panel").resolve()
    first = stdout.splitlines()[0]
    assert first == (f"navixy-panel {metadata.version('navixy-panel')}: creating a new "
                     f"database in {folder} (NAVIXY_PANEL_DATA_DIR unset: ./.navixy-panel "
                     "in the current folder)"), stdout
    stdout, stderr = serve_once(data_dir, env={"NAVIXY_PANEL_DATA_DIR": None}, cwd=work)
    assert stdout.splitlines()[0].endswith(
        f": database in {folder} (embedded PostgreSQL; NAVIXY_PANEL_DATA_DIR unset: "
        "./.navixy-panel in the current folder)"), stdout
    # quiet: no alembic steps, nothing at INFO from the start itself
    assert "alembic" not in stderr
    assert "embedded PostgreSQL ready" not in stderr
    assert stderr.count("running as root") == (1 if os.geteuid() == 0 else 0)
    assert stderr.rstrip().endswith("embedded PostgreSQL stopped"), stderr


def test_startup_line_masks_database_url_and_says_when_the_schema_was_made(
        create_database, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    url = create_database("navixy_startup")
    shown = url.replace("postgresql+asyncpg://", "postgresql://")
    env = {"DATABASE_URL": url, "NAVIXY_PANEL_SECRET_KEY": TEST_KEY}
    stdout, stderr = serve_once(data_dir, env=env)
    from sqlalchemy.engine import make_url

    masked = make_url(shown).render_as_string(hide_password=True)
    assert stdout.splitlines()[0].endswith(
        f": database {masked} (DATABASE_URL): empty, creating the schema"), stdout
    stdout, _ = serve_once(data_dir, env=env)
    assert stdout.splitlines()[0].endswith(f": database {masked} (DATABASE_URL)"), stdout
    password = make_url(url).password
    if password:
        assert str(password) not in stdout + stderr
    assert "embedded PostgreSQL" not in stderr
    assert "alembic" not in stderr


# ------------------------------------------------------------ item: the command line

def test_version_comes_from_the_package_metadata() -> None:
    done = command("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"navixy-panel {metadata.version('navixy-panel')}"


def test_help_describes_commands_defaults_and_environment() -> None:
    top = command("--help").stdout
    for variable in ("DATABASE_URL", "NAVIXY_PANEL_DATA_DIR", "NAVIXY_PANEL_SECRET_KEY",
                     "NAVIXY_PANEL_CORS_ORIGINS", "NAVIXY_PANEL_LOG_FORMAT",
                     "NAVIXY_PANEL_LOG_LEVEL", "NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS",
                     "NAVIXY_PANEL_LOGIN_FAILURES_PER_LOGIN",
                     "NAVIXY_PANEL_LOGIN_FAILURES_PER_ADDRESS",
                     "NAVIXY_PANEL_LOGIN_FAILURE_WINDOW", "NAVIXY_PANEL_TEST_SENDS_PER_MINUTE",
                     "NAVIXY_PANEL_SESSION_TTL", "NAVIXY_PANEL_WEBITEL_TOKEN_TTL",
                     "NAVIXY_PANEL_MAX_BODY_BYTES", "NAVIXY_PANEL_REQUEST_TIMEOUT",
                     "NAVIXY_PANEL_CACHE", "NAVIXY_PANEL_DB_POOL_WAIT"):
        assert variable in top, variable
    import navixy_panel.settings

    read = re.findall(r'"(DATABASE_URL|NAVIXY_PANEL_\w+)"',
                      Path(navixy_panel.settings.__file__).read_text())
    assert len(read) >= 15 and not [name for name in read if name not in top]
    for name in ("serve", "migrate", "dealer", "gateway", "rotate-secrets"):
        assert name in top
    serve_help = " ".join(command("serve", "--help").stdout.split())
    assert "(default: 127.0.0.1)" in serve_help and "(default: 8080)" in serve_help
    create_help = " ".join(command("dealer", "create", "--help").stdout.split())
    assert "email_gateways create, delete, read, send_email, update" in create_help
    assert "notification_settings read, update" in create_help


def test_operator_commands_are_quiet_and_only_the_starter_says_it_stopped(
        data_dir: Path) -> None:
    """A second `serve` on the same data directory attaches to the running server:
    stopping it leaves the server to the first, and says nothing about stopping."""
    env = {**os.environ, "NAVIXY_PANEL_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    env.pop("NAVIXY_PANEL_SECRET_KEY", None)
    first_port = free_port()
    first = subprocess.Popen([sys.executable, "-m", "navixy_panel", "serve", "--port",
                              str(first_port)], env=env, cwd=data_dir,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_healthy(first, first_port)
        created = command("dealer", "create", "--login", "quiet", "--password", "pw-1234",
                          env={"NAVIXY_PANEL_DATA_DIR": str(data_dir)})
        assert created.returncode == 0 and created.stderr == "", created.stderr
        listed = command("dealer", "list", "--json", env={"NAVIXY_PANEL_DATA_DIR": str(data_dir)})
        assert listed.stderr == "" and [d["login"] for d in json.loads(listed.stdout)] == [
            "quiet"]
        _, second_err = serve_once(data_dir)
        assert "embedded PostgreSQL stopped" not in second_err
        assert "running as root" in second_err or os.geteuid() != 0
        assert http(f"http://127.0.0.1:{first_port}/ready") == {"status": "ok",
                                                                "database": "ok"}
    finally:
        first.send_signal(signal.SIGTERM)
        _, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_err
    assert first_err.rstrip().endswith("embedded PostgreSQL stopped"), first_err
    assert postmasters(data_dir) == []


def test_list_commands_refuse_to_create_a_database(data_dir: Path) -> None:
    for what in ("dealer", "gateway"):
        refused(command(what, "list", env={"NAVIXY_PANEL_DATA_DIR": str(data_dir / "none")}),
                f"no database in {data_dir / 'none'}", "NAVIXY_PANEL_DATA_DIR")
    assert not (data_dir / "none").exists()


@pytest.mark.parametrize("squatted", ["a file", "another user's folder"])
def test_squatted_runtime_folder_is_one_line(data_dir: Path, squatted: str) -> None:
    """Without XDG_RUNTIME_DIR the embedded server's runtime folder is the predictable
    <temp>/runtime-<uid>; one made first by someone else stops the start, in one line.
    (A private TMPDIR stands for /tmp: the real one is shared with other runs.)"""
    temp = data_dir / "tmp"
    temp.mkdir(mode=0o1777)
    temp.chmod(0o1777)
    runtime = temp / f"runtime-{os.geteuid()}"
    if squatted == "a file":
        runtime.write_text("")
        problem = f"runtime directory {runtime} is not a directory"
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can make a folder another user owns")
        runtime.mkdir(mode=0o700)
        os.chown(runtime, 65534, 65534)
        problem = f"runtime directory {runtime} is owned by uid 65534, not 0"
    env: dict[str, str | None] = {"XDG_RUNTIME_DIR": None, "TMPDIR": str(temp),
                                  "NAVIXY_PANEL_DATA_DIR": str(data_dir / "data")}
    for args in (["serve", "--port", str(free_port())], ["migrate"]):
        line = refused(command(*args, env=env), problem, "XDG_RUNTIME_DIR")
        assert line == (f"navixy-panel: the embedded PostgreSQL cannot start: {problem}; set "
                        "XDG_RUNTIME_DIR to a folder only this user owns, or use DATABASE_URL")
