"""Run the alembic migrations from code, from a source checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


class SchemaTooNew(Exception):
    """The database was migrated by a newer release (its revision is unknown here).

    Raised instead of alembic's traceback, so an old instance restarted during a rolling
    upgrade refuses in one line. Instances already running, or started with
    --no-migrate, keep serving: within a release, migrations only add to the schema."""

    def __init__(self, revision: str, head: str) -> None:
        super().__init__(
            f"the database schema is at revision {revision}, which this navixy-panel does "
            f"not know (its latest is {head}): a newer release has migrated it; install "
            "that release here too (--no-migrate starts this one on the newer schema)")


def migrations_dir() -> Path:
    """The wheel ships migrations inside the package; a checkout has them at the top."""
    for candidate in (_PACKAGE_DIR / "_migrations", _PACKAGE_DIR.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("alembic migrations not found next to the navixy_panel package")


def alembic_config(database_url: str) -> Config:
    """Built in code so it works wherever the package is installed; logging stays ours."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking: call it outside the event loop (migrations/env.py runs its own loop)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
