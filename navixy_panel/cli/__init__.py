"""The `navixy-panel` command: serve, migrate, and the operator's commands.

Settings are parsed here once and passed down. Whatever stops a command from
starting (a bad environment variable or option, a taken port, a data directory
that cannot be written, a database that does not answer, a missing or wrong
secret key) is one line on stderr and exit status 2; a refused operator
command is one line and status 1. Each command module adds its own
subcommands: `serve.py` (serve, migrate), `dealers.py`, `gateways.py`, `keys.py`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import NoReturn

from navixy_panel import logs
from navixy_panel.cli import dealers, gateways, keys, serve
from navixy_panel.cli.common import (
    PROGRESS,
    CommandError,
    Interrupted,
    StartupError,
    version,
)
from navixy_panel.db.embedded import EmbeddedUnavailable
from navixy_panel.db.migrate import SchemaTooNew
from navixy_panel.domain.errors import DomainError, InvalidInput
from navixy_panel.security.secret_box import SecretKeyError
from navixy_panel.settings import Settings, SettingsError

DESCRIPTION = """\
A backend for dealers' email gateways: Navixy's Admin Panel API (/v2/panel/...)
and Webitel's email-settings API (/api/v2/email/settings) over one PostgreSQL
store. Start with `navixy-panel serve --demo`; `navixy-panel COMMAND --help`
describes each command."""

EPILOG = """\
environment variables (all optional):
  DATABASE_URL                   postgresql://user:password@host:5432/db; unset: an
                                 embedded PostgreSQL in the data directory
  NAVIXY_PANEL_DATABASE_DIRECT_URL
                                 a direct connection to the same database for LISTEN
                                 and migrations when DATABASE_URL is a PgBouncer in
                                 transaction mode (default: DATABASE_URL)
  NAVIXY_PANEL_DATABASE_POOLER   auto, pgbouncer or none: statement caching off for a
                                 transaction pooler (default: auto, i.e. pgbouncer when
                                 the direct URL differs from DATABASE_URL)
  NAVIXY_PANEL_DATA_DIR          data directory of the embedded PostgreSQL (pgdata/) and
                                 of the generated secret.key (default: ./.navixy-panel,
                                 relative to the current folder)
  NAVIXY_PANEL_SECRET_KEY        Fernet keys for SMTP passwords, comma-separated, newest
                                 first (required with DATABASE_URL; default: generated
                                 into the data directory); make one with
                                 `navixy-panel key generate`
  NAVIXY_PANEL_CORS_ORIGINS      comma-separated origins allowed by CORS (default: none)
  NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS
                                 networks test messages may be sent to (docs/security.md)
  NAVIXY_PANEL_TLS_CA_FILE       PEM bundle trusted besides the system store for every
                                 outbound TLS connection (a private CA)
  NAVIXY_PANEL_SESSION_TTL       panel session lifetime in seconds (default: 86400)
  NAVIXY_PANEL_WEBITEL_TOKEN_TTL Webitel key/token lifetime in seconds (default: 86400)
  NAVIXY_PANEL_MAX_BODY_BYTES    largest request body (default: 1048576)
  NAVIXY_PANEL_REQUEST_TIMEOUT   seconds before a request is answered with code 6
                                 (default: 90)
  NAVIXY_PANEL_DB_POOL_WAIT      seconds a request waits for a database connection
                                 before code 14 (default: 10)
  NAVIXY_PANEL_CACHE             on or off: session and list caches (default: on)
  NAVIXY_PANEL_LOGIN_FAILURES_PER_LOGIN
                                 failed logins per login per window (default: 10)
  NAVIXY_PANEL_LOGIN_FAILURES_PER_ADDRESS
                                 failed logins per client address per window (default: 50)
  NAVIXY_PANEL_LOGIN_FAILURE_WINDOW
                                 the window, in seconds (default: 900)
  NAVIXY_PANEL_TEST_SENDS_PER_MINUTE
                                 test messages per dealer per minute (default: 10)
  NAVIXY_PANEL_LOG_FORMAT        text or json (default: text)
  NAVIXY_PANEL_LOG_LEVEL         DEBUG, INFO, WARNING or ERROR (default: INFO)

delivery (docs/delivery.md):
  NAVIXY_PANEL_DELIVER           on or off: delivery workers in `serve` (default: on;
                                 also `serve --no-deliver`)
  NAVIXY_PANEL_MESSAGE_MAX_BYTES largest submitted message, decoded (default: 10485760)
  NAVIXY_PANEL_DEALER_QUEUE_QUOTA
                                 unfinished messages per dealer (default: 10000)
  NAVIXY_PANEL_KEY_RATE          submissions per second per key and instance (default: 1000)
  NAVIXY_PANEL_DELIVERY_CONNECTIONS_PER_GATEWAY
                                 SMTP connections to one gateway, all instances together
                                 (default: 4)
  NAVIXY_PANEL_DELIVERY_WORKERS  SMTP connections one instance holds (default: 32)
  NAVIXY_PANEL_DELIVERY_RETRY_BASE
                                 seconds before the first retry, doubling up to an hour
                                 (default: 60)
  NAVIXY_PANEL_DELIVERY_MAX_AGE  seconds before an undelivered message expires
                                 (default: 86400)
  NAVIXY_PANEL_DELIVERY_LEASE    seconds before a dead instance's messages are retried
                                 (default: 60)
  NAVIXY_PANEL_MESSAGE_RETENTION seconds a finished message's body is kept (default:
                                 604800; the log row: 30 days)

SMTP submission (docs/submission.md):
  NAVIXY_PANEL_SUBMISSION_PORT   port of the submission listener, STARTTLS (default: off;
                                 `serve --demo`: 2587)
  NAVIXY_PANEL_SUBMISSION_TLS_PORT
                                 its implicit TLS port (default: off)
  NAVIXY_PANEL_SUBMISSION_HOST   addresses it listens on, comma-separated (default:
                                 127.0.0.1)
  NAVIXY_PANEL_SUBMISSION_TLS_CERT, NAVIXY_PANEL_SUBMISSION_TLS_KEY
                                 its certificate chain and private key, PEM files (read
                                 again when they change)

exit status: 0 done; 1 the command was refused (e.g. a login already taken);
2 it could not start (bad option or variable, port in use, data directory or
database unusable, missing or wrong secret key)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (then exit status 2, as argparse)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"navixy-panel: {problem}", file=sys.stderr)
        sys.exit(2)
    logs.configure(settings)
    _quiet_libraries(serving=args.run is serve.run_serve)
    try:
        args.run(args, settings)
    except (StartupError, SecretKeyError, EmbeddedUnavailable, SchemaTooNew) as exc:
        print(f"navixy-panel: {exc}", file=sys.stderr)
        sys.exit(2)
    except CommandError as exc:
        print(f"navixy-panel: {exc}", file=sys.stderr)
        sys.exit(1)
    except DomainError as exc:
        print(f"navixy-panel: {_describe(exc)}", file=sys.stderr)
        sys.exit(1)
    except Interrupted as exc:  # a signal while `serve` was starting (see serve.py)
        print(f"navixy-panel: {exc}", file=sys.stderr)
        sys.exit(exc.status)
    except KeyboardInterrupt:  # Ctrl+C outside the service's own signal handling
        logging.disable(logging.CRITICAL)  # no library's last words about what it cut short
        print(f"navixy-panel: {PROGRESS.interrupted()}", file=sys.stderr)
        sys.exit(130)


def _quiet_libraries(serving: bool) -> None:
    """No chatter from libraries at the default level: alembic announces every
    migration step, aiosmtpd every connection (the demo sink prints what matters)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    if not serving:
        # The "running as root" warning is for whoever starts the service; repeating it
        # on every operator command (which attach to the same server) is noise.
        logging.getLogger("navixy_panel.db.embedded").addFilter(
            lambda record: not record.getMessage().startswith("running as root"))


def _describe(error: DomainError) -> str:
    if isinstance(error, InvalidInput):
        return "; ".join(f"{field}: {message}" for field, message in sorted(error.errors.items()))
    return error.message


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="navixy-panel", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND", title="commands")
    serve.add_commands(commands)
    dealers.add_commands(commands)
    gateways.add_commands(commands)
    keys.add_commands(commands)
    return parser
