"""Service configuration, read from the environment once at start.

Every value is validated here, so a bad deployment fails before the service
listens, with one message per bad variable, instead of failing at the first
request that needs the value.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

LOG_FORMATS = ("text", "json")
# What `serve --demo` and the test suite open: the demo's gateways point at localhost.
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


class SettingsError(ValueError):
    """Raised with every problem found, one per line, so an operator fixes them all at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Typed configuration; tests build it directly with `dataclasses.replace`."""

    database_url: str | None = None
    # A direct connection to the same database for LISTEN and migrations, when
    # DATABASE_URL leads through a transaction pooler (see db/pooling.py).
    database_direct_url: str | None = None
    database_pooler: str = "auto"  # auto | pgbouncer | none (db/pooling.py)
    data_dir: Path = Path(".navixy-panel")
    session_ttl_seconds: int = 24 * 3600
    max_body_bytes: int = 1024 * 1024
    log_format: str = "text"
    log_level: str = "INFO"
    secret_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    login_failures_per_login: int = 10
    login_failures_per_address: int = 50
    login_failure_window_seconds: int = 15 * 60
    test_sends_per_minute: int = 10
    webitel_token_ttl_seconds: int = 24 * 3600
    migrate_on_start: bool = True
    request_timeout_seconds: float = 90.0
    cache_enabled: bool = True
    cache_check_seconds: float = 5.0
    # How long a request may wait for a pooled database connection before it is
    # answered "retry later" (code 14 / HTTP 503).
    db_pool_wait_seconds: float = 10.0
    # Networks SMTP destinations may be in although the default policy refuses them
    # (loopback, private, …): normalised CIDRs, e.g. an internal relay's "10.1.2.0/24".
    smtp_allowed_networks: tuple[str, ...] = ()
    # NAVIXY_PANEL_TLS_CA_FILE's certificates (PEM), trusted in addition to the system
    # store for every outbound TLS connection: an operator's private CA never needs
    # `ssl.trust_all_hosts`. Read once here; a bad file stops the start.
    tls_ca_pem: str | None = None
    # Delivery (SPEC section 7): submission limits, the queue's schedule, the workers.
    deliver: bool = True  # `serve --no-deliver` turns the workers off
    message_max_bytes: int = 10 * 1024 * 1024  # decoded size of one message
    dealer_queue_quota: int = 10_000  # unfinished messages per dealer
    key_rate_per_second: int = 1000  # submissions per key and instance (a token bucket)
    delivery_connections_per_gateway: int = 4  # across every instance
    delivery_workers: int = 32  # SMTP connections one instance holds at once
    delivery_retry_base_seconds: float = 60.0
    delivery_max_age_seconds: float = 24 * 3600.0
    delivery_lease_seconds: float = 60.0  # a dead instance's messages return after this
    message_retention_seconds: float = 7 * 86400.0  # bodies of finished messages
    # SMTP submission (submission/): off while neither port is set. STARTTLS on
    # `submission_port` and implicit TLS on `submission_tls_port` use the certificate
    # and key files, read again when they change (a renewed certificate needs no
    # restart). Port 0 (tests) takes any free port.
    submission_port: int | None = None
    submission_tls_port: int | None = None
    submission_hosts: tuple[str, ...] = ("127.0.0.1",)
    submission_tls_cert: Path | None = None
    submission_tls_key: Path | None = None
    # Set by `serve --workers N` for its workers (which share the port), never from
    # the environment: two unrelated instances must not split one port's clients.
    submission_reuse_port: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse and validate; collects all problems before raising."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        values: dict[str, Any] = {}

        def take(field: str, var: str, parse: Callable[[str], Any]) -> None:
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                return
            try:
                values[field] = parse(raw.strip())
            except ValueError as exc:
                problems.append(f"{var}: {exc}")

        take("database_url", "DATABASE_URL", _parse_database_url)
        take("database_direct_url", "NAVIXY_PANEL_DATABASE_DIRECT_URL", _parse_database_url)
        take("database_pooler", "NAVIXY_PANEL_DATABASE_POOLER",
             _one_of(("auto", "pgbouncer", "none")))
        take("data_dir", "NAVIXY_PANEL_DATA_DIR", _folder)
        take("session_ttl_seconds", "NAVIXY_PANEL_SESSION_TTL", _positive_int(1, 366 * 86400))
        take("max_body_bytes", "NAVIXY_PANEL_MAX_BODY_BYTES", _positive_int(1024, 1 << 30))
        take("log_format", "NAVIXY_PANEL_LOG_FORMAT", _one_of(LOG_FORMATS))
        take("log_level", "NAVIXY_PANEL_LOG_LEVEL",
             _one_of(("DEBUG", "INFO", "WARNING", "ERROR"), upper=True))
        take("secret_keys", "NAVIXY_PANEL_SECRET_KEY", _comma_list)
        take("cors_origins", "NAVIXY_PANEL_CORS_ORIGINS", _comma_list)
        take("login_failures_per_login", "NAVIXY_PANEL_LOGIN_FAILURES_PER_LOGIN",
             _positive_int(1, 1_000_000))
        take("login_failures_per_address", "NAVIXY_PANEL_LOGIN_FAILURES_PER_ADDRESS",
             _positive_int(1, 1_000_000))
        take("login_failure_window_seconds", "NAVIXY_PANEL_LOGIN_FAILURE_WINDOW",
             _positive_int(1, 86400))
        take("test_sends_per_minute", "NAVIXY_PANEL_TEST_SENDS_PER_MINUTE",
             _positive_int(1, 1_000_000))
        take("webitel_token_ttl_seconds", "NAVIXY_PANEL_WEBITEL_TOKEN_TTL",
             _positive_int(1, 366 * 86400))
        take("cache_enabled", "NAVIXY_PANEL_CACHE", _on_off)
        take("request_timeout_seconds", "NAVIXY_PANEL_REQUEST_TIMEOUT", _positive_int(1, 3600))
        take("db_pool_wait_seconds", "NAVIXY_PANEL_DB_POOL_WAIT", _positive_int(1, 600))
        take("smtp_allowed_networks", "NAVIXY_PANEL_SMTP_ALLOWED_NETWORKS", _networks)
        take("tls_ca_pem", "NAVIXY_PANEL_TLS_CA_FILE", _ca_bundle)
        take("deliver", "NAVIXY_PANEL_DELIVER", _on_off)
        take("message_max_bytes", "NAVIXY_PANEL_MESSAGE_MAX_BYTES", _positive_int(1024, 1 << 30))
        take("dealer_queue_quota", "NAVIXY_PANEL_DEALER_QUEUE_QUOTA",
             _positive_int(1, 100_000_000))
        take("key_rate_per_second", "NAVIXY_PANEL_KEY_RATE", _positive_int(1, 1_000_000))
        take("delivery_connections_per_gateway",
             "NAVIXY_PANEL_DELIVERY_CONNECTIONS_PER_GATEWAY", _positive_int(1, 100))
        take("delivery_workers", "NAVIXY_PANEL_DELIVERY_WORKERS", _positive_int(1, 1000))
        take("delivery_retry_base_seconds", "NAVIXY_PANEL_DELIVERY_RETRY_BASE",
             _seconds(0.01, 86400))
        take("delivery_max_age_seconds", "NAVIXY_PANEL_DELIVERY_MAX_AGE",
             _seconds(1, 30 * 86400))
        take("delivery_lease_seconds", "NAVIXY_PANEL_DELIVERY_LEASE", _seconds(1, 3600))
        take("message_retention_seconds", "NAVIXY_PANEL_MESSAGE_RETENTION",
             _seconds(60, 366 * 86400))
        take("submission_port", "NAVIXY_PANEL_SUBMISSION_PORT", _positive_int(1, 65535))
        take("submission_tls_port", "NAVIXY_PANEL_SUBMISSION_TLS_PORT",
             _positive_int(1, 65535))
        take("submission_hosts", "NAVIXY_PANEL_SUBMISSION_HOST", _comma_list)
        take("submission_tls_cert", "NAVIXY_PANEL_SUBMISSION_TLS_CERT", _folder)
        take("submission_tls_key", "NAVIXY_PANEL_SUBMISSION_TLS_KEY", _folder)
        problems += _pooler_problems(values)
        problems += _submission_problems(values)
        if problems:
            raise SettingsError(problems)
        return cls(**values)


def _pooler_problems(values: Mapping[str, Any]) -> list[str]:
    if values.get("database_direct_url") and not values.get("database_url"):
        return ["NAVIXY_PANEL_DATABASE_DIRECT_URL: set DATABASE_URL too (the direct URL is "
                "the way around its pooler; the embedded PostgreSQL needs neither)"]
    # LISTEN through a transaction pooler is accepted and never hears anything: caches
    # would then serve what other instances have changed since.
    if (values.get("database_pooler") == "pgbouncer" and not values.get("database_direct_url")
            and values.get("cache_enabled", True)):
        return ["NAVIXY_PANEL_DATABASE_POOLER=pgbouncer: set NAVIXY_PANEL_DATABASE_DIRECT_URL "
                "to a direct connection to the same database (cache invalidation listens "
                "there), or turn the caches off with NAVIXY_PANEL_CACHE=off"]
    return []


def _submission_problems(values: Mapping[str, Any]) -> list[str]:
    """The certificate is loaded once here, as the listener will load it, so a wrong
    file stops the start instead of every STARTTLS."""
    cert, key = values.get("submission_tls_cert"), values.get("submission_tls_key")
    port, tls_port = values.get("submission_port"), values.get("submission_tls_port")
    if (cert is None) != (key is None):
        return ["NAVIXY_PANEL_SUBMISSION_TLS_CERT and NAVIXY_PANEL_SUBMISSION_TLS_KEY: set "
                "both (the certificate chain and its private key, PEM) or neither"]
    if tls_port is not None and cert is None:
        return ["NAVIXY_PANEL_SUBMISSION_TLS_PORT: set NAVIXY_PANEL_SUBMISSION_TLS_CERT and "
                "NAVIXY_PANEL_SUBMISSION_TLS_KEY too (implicit TLS needs a certificate)"]
    if port is not None and port == tls_port:
        return ["NAVIXY_PANEL_SUBMISSION_TLS_PORT: must differ from "
                "NAVIXY_PANEL_SUBMISSION_PORT"]
    if cert is not None and key is not None:
        for path in (cert, key):
            try:
                path.open("rb").close()
            except OSError as exc:
                return [f"NAVIXY_PANEL_SUBMISSION_TLS_CERT/_KEY: cannot read {str(path)!r} "
                        f"({exc.strerror or exc})"]
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                cert, key, password=_no_passphrase)
        except (ssl.SSLError, OSError):
            return [f"NAVIXY_PANEL_SUBMISSION_TLS_CERT/_KEY: {str(cert)!r} and {str(key)!r} "
                    "are not a PEM certificate chain and its private key"]
    return []


def _no_passphrase() -> bytes:
    """An encrypted key is refused, never prompted for on the terminal (OpenSSL's
    default when no password is given)."""
    return b""


def _parse_database_url(raw: str) -> str:
    """Accept the libpq spelling operators know and point SQLAlchemy at asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+asyncpg://" + raw[len(prefix):]
    raise ValueError("must start with postgresql:// (or postgresql+asyncpg://)")


def _folder(raw: str) -> Path:
    """A path as given (`~` expanded); relative ones follow the current directory, as
    the default `./.navixy-panel` does. The command line checks it is a writable folder
    and names it, absolute, in its start-up line."""
    return Path(raw).expanduser()


def _positive_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _seconds(low: float, high: float) -> Callable[[str], float]:
    """Seconds, with a fraction if wanted ("0.5"): tests shorten the schedule."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected seconds, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"expected {low:g} to {high:g} seconds, got {raw}")
        return value

    return parse


def _one_of(choices: tuple[str, ...], upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _on_off(raw: str) -> bool:
    value = raw.lower()
    if value not in ("on", "off", "true", "false", "1", "0"):
        raise ValueError(f"must be on or off, got {raw!r}")
    return value in ("on", "true", "1")


def _comma_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _networks(raw: str) -> tuple[str, ...]:
    """Strict CIDRs: `10.1.2.3/24` (host bits set) is refused rather than guessed at,
    since a typo here opens a network to every tenant's gateways."""
    parsed, bad = [], []
    for part in _comma_list(raw):
        try:
            parsed.append(str(ipaddress.ip_network(part)))
        except ValueError:
            bad.append(part)
    if bad:
        raise ValueError("not networks in CIDR notation (e.g. 10.1.2.0/24): "
                         + ", ".join(repr(part) for part in bad))
    return tuple(parsed)


# A CA bundle is small (the whole Mozilla store is about 220 KiB).
MAX_CA_FILE_BYTES = 4 * 1024 * 1024


def _ca_bundle(raw: str) -> str:
    """The PEM text of a CA file, checked by loading it as OpenSSL will."""
    path = Path(raw).expanduser()
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CA_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r} ({exc.strerror or exc})") from None
    if len(data) > MAX_CA_FILE_BYTES:
        raise ValueError(f"{str(path)!r} is larger than {MAX_CA_FILE_BYTES} bytes")
    text = data.decode("ascii", errors="replace")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ValueError(f"{str(path)!r} holds no PEM certificate")
    try:
        ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a valid PEM bundle ({exc})") from None
    return text
