"""A real PgBouncer (Debian's `pgbouncer` package) in transaction-pooling mode on a
free loopback port, in front of the test PostgreSQL.

Every database of the server is reachable through it under its own name (`*` in
[databases]); clients authenticate with the server's password (SCRAM, from a
userlist) and PgBouncer logs into PostgreSQL with it. `default_pool_size` is
small, so many client connections share the same server connections, which is
what breaks named prepared statements and LISTEN.

PgBouncer refuses to run as root: then it runs as the user that owns the server's
socket folder (the embedded server's `embedded_postgres`, whose socket is 0700).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

PACKAGE = "pgbouncer"
SKIP_REASON = ("PgBouncer is not installed: install Debian's `pgbouncer` package "
               "(apt-get install pgbouncer; .ci/run does it)")


def binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found is None and Path("/usr/sbin/pgbouncer").exists():
        found = "/usr/sbin/pgbouncer"
    return found


def version() -> str:
    executable = binary()
    assert executable is not None
    return subprocess.run([executable, "--version"], capture_output=True, text=True,
                          check=True).stdout.split("\n", 1)[0].strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgBouncer:
    """Start with `start()`, stop with `stop()`; `url(database_url)` is that database
    through the pooler."""

    def __init__(self, server_url: str, *, pool_size: int = 2) -> None:
        self.server = make_url(server_url)
        self.pool_size = pool_size
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="navixy-panel-pgbouncer-"))
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database_url: str) -> str:
        """`database_url` (a database of the same server) through PgBouncer."""
        given = make_url(database_url)
        return given.set(host="127.0.0.1", port=self.port, query={}).render_as_string(
            hide_password=False)

    def admin_url(self) -> str:
        """PgBouncer's admin console (`SHOW POOLS`, `SHOW SERVERS`)."""
        return self.server.set(drivername="postgresql", host="127.0.0.1", port=self.port,
                               database="pgbouncer", query={}).render_as_string(
            hide_password=False)

    def start(self) -> None:
        executable = binary()
        assert executable is not None, SKIP_REASON
        socket_dir = self.server.query.get("host")
        host = socket_dir if isinstance(socket_dir, str) else (self.server.host or "127.0.0.1")
        user = self.server.username or "postgres"
        password = self.server.password or ""
        # Quotes inside a userlist entry are doubled; the embedded password has none.
        (self.folder / "userlist.txt").write_text(
            f'"{user}" "{str(password).replace(chr(34), chr(34) * 2)}"\n')
        (self.folder / "pgbouncer.ini").write_text(f"""\
[databases]
* = host={host} port={self.server.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {self.folder / "userlist.txt"}
admin_users = {user}
pool_mode = transaction
default_pool_size = {self.pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
max_db_connections = {self.pool_size}
server_lifetime = 3600
logfile = {self.folder / "pgbouncer.log"}
pidfile = {self.folder / "pgbouncer.pid"}
""")
        command = [executable, "-q", str(self.folder / "pgbouncer.ini")]
        if os.geteuid() == 0:
            owner = pwd.getpwuid(Path(host).stat().st_uid if host.startswith("/")
                                 else pwd.getpwnam("nobody").pw_uid)
            for path in (self.folder, *self.folder.iterdir()):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            self.folder.chmod(0o700)
            command[1:1] = ["-u", owner.pw_name]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self._diagnostics()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen within 10 s: {self._diagnostics()}")

    def _diagnostics(self) -> str:
        stderr = b""
        if self.process is not None and self.process.stderr is not None \
                and self.process.poll() is not None:
            stderr = self.process.stderr.read()
        log = self.folder / "pgbouncer.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        return (stderr.decode(errors="replace") + tail).strip()

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)
