"""What the settings decide for every process: which database it uses, and the box
that opens the stored SMTP passwords.

The service (`resources.py`), `serve --workers` and the operator's commands all ask
here, so they cannot disagree: with DATABASE_URL set, that server and a configured
NAVIXY_PANEL_SECRET_KEY; without it, the embedded server in the data directory and,
unless a key is configured, the key generated beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from navixy_panel.db.embedded import EmbeddedPostgres
from navixy_panel.security.secret_box import MissingSecretBox, SecretBox, SecretKeyError, keys_for
from navixy_panel.settings import Settings


def embedded(settings: Settings) -> bool:
    """The one decision: the embedded server unless DATABASE_URL is set."""
    return not settings.database_url


@dataclass(frozen=True, slots=True)
class Database:
    """The database a process uses: `url` (DATABASE_URL), or the embedded `server`."""

    url: str | None
    server: EmbeddedPostgres | None
    # NAVIXY_PANEL_DATABASE_DIRECT_URL: LISTEN and migrations need a session of their own,
    # which a transaction-pooling PgBouncer in `url` cannot give. None: `url` itself.
    direct_url: str | None = None

    def start(self) -> str:
        """Blocking: the URL to connect to, once the embedded server (if it is the one)
        runs; this process then holds a share of it until `stop()`."""
        if self.server is None:
            assert self.url is not None
            return self.url
        return self.server.start()

    def direct(self, started: str) -> str:
        """Where LISTEN and migrations go, given the URL `start()` returned."""
        return self.direct_url or started

    def stop(self) -> None:
        """Releases this process's share of the embedded server (the last one stops it)."""
        if self.server is not None:
            self.server.stop()


def database(settings: Settings) -> Database:
    if embedded(settings):
        return Database(None, EmbeddedPostgres(settings.data_dir))
    return Database(settings.database_url, None, settings.database_direct_url)


def secret_keys(settings: Settings) -> list[str]:
    """The configured keys; with the embedded database and none configured, the key
    file in the data directory (generated once). SecretKeyError when none applies."""
    return keys_for(settings.secret_keys, settings.data_dir, embedded=embedded(settings))


def secret_box(settings: Settings, *, required: bool = True) -> SecretBox:
    """The box for stored SMTP passwords. Not `required` (operator commands that may not
    touch a secret, such as creating a dealer): a missing or malformed key fails only
    where a secret is used, with the reason."""
    try:
        return SecretBox(secret_keys(settings))
    except SecretKeyError as reason:
        if required:
            raise
        return MissingSecretBox(reason)
