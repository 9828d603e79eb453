"""`serve` and `migrate`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from typing import Any

from navixy_panel import logs
from navixy_panel.cli.common import database_url
from navixy_panel.db import migrate
from navixy_panel.settings import LOOPBACK_NETWORKS, Settings


def add_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--demo", action="store_true",
                       help="seed demo dealers and gateways into an empty database")
    serve.add_argument("--no-migrate", action="store_true",
                       help="do not upgrade the schema at start")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="N processes sharing the port (SO_REUSEPORT, Linux)")
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(run=run_serve)

    commands.add_parser("migrate", help="upgrade the schema to the latest migration"
                        ).set_defaults(run=run_migrate)


def run_serve(args: argparse.Namespace, settings: Settings) -> None:
    from aiohttp import web

    from navixy_panel.app import create_app
    from navixy_panel.cli.demo import demo_ctx

    if args.demo:
        settings = open_loopback_for_demo(settings)
    if args.workers > 1:
        from navixy_panel.cli import workers

        workers.run(args, settings)
        return
    settings = dataclasses.replace(settings, migrate_on_start=not args.no_migrate)
    app = create_app(settings)
    if args.demo:
        app.cleanup_ctx.append(demo_ctx(args.port))
    web.run_app(app, host=args.host, port=args.port, loop=new_event_loop(),
                **logs.RUNNER_KWARGS, reuse_port=args.reuse_port or None,
                shutdown_timeout=30,
                print=lambda message: print(message, flush=True))


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


def run_migrate(args: argparse.Namespace, settings: Settings) -> None:
    with database_url(settings) as url:
        migrate.upgrade(url)
    print("schema is at the latest migration")
