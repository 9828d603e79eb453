"""The `navixy-panel` command: serve, migrate, and the operator's commands.

Settings are parsed here once and passed down; a bad environment ends the
command with one line per problem and exit status 2. Each command module adds
its own subcommands: `serve.py` (serve, migrate), `dealers.py`, `gateways.py`.
"""

from __future__ import annotations

import argparse
import sys

from navixy_panel import logs
from navixy_panel.cli import dealers, gateways, serve
from navixy_panel.cli.common import CommandError
from navixy_panel.domain.errors import DomainError, InvalidInput
from navixy_panel.security.secret_box import SecretKeyError
from navixy_panel.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"navixy-panel: {exc}", file=sys.stderr)
        sys.exit(2)
    logs.configure(settings)
    try:
        args.run(args, settings)
    except (CommandError, SecretKeyError) as exc:
        print(f"navixy-panel: {exc}", file=sys.stderr)
        sys.exit(1)
    except DomainError as exc:
        print(f"navixy-panel: {_describe(exc)}", file=sys.stderr)
        sys.exit(1)


def _describe(error: DomainError) -> str:
    if isinstance(error, InvalidInput):
        return "; ".join(f"{field}: {message}" for field, message in sorted(error.errors.items()))
    return error.message


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="navixy-panel", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")
    serve.add_commands(commands)
    dealers.add_commands(commands)
    gateways.add_commands(commands)
    return parser
