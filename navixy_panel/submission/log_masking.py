"""Keeps credentials out of aiosmtpd's own log lines (logger `mail.log`).

aiosmtpd masks the argument of a well-formed `AUTH <mechanism> <response>` line,
but logs every other line a client sends as it came, at INFO and DEBUG: a client
that sends its base64 credentials when no AUTH exchange is under way (pipelined
after a refused AUTH, or typed by hand), a response that is not base64 ("can't
decode base64: …"), or the message's lines while DATA is read. So every client
line quoted in a record (a bytes literal) keeps only a command the protocol
defines (`MAIL FROM:<…>`, `EHLO …`, `AUTH <mechanism>`), and anything else is
masked whole; an unrecognised command is not named; and, whatever the line, a
submission key or a long base64 run is masked.
"""

from __future__ import annotations

import logging
import re

AIOSMTPD_LOGGER = "mail.log"

# Commands whose argument is no secret; AUTH keeps its mechanism only.
_SAFE_VERBS = frozenset({"EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT",
                         "STARTTLS", "HELP", "VRFY", "EXPN"})
_CLIENT_BYTES = re.compile(r"""b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*\"""")
_UNRECOGNISED = re.compile(r"(unrecognised: |over limit for |not recognized)\S*")
# A key (`npk_…`), or base64 long enough to hold one (a key is 47 characters, in
# base64 at least 64).
_SECRET_RUN = re.compile(r"npk_[A-Za-z0-9_-]*|[A-Za-z0-9+/_-]{40,}={0,2}")


def _client_line(found: re.Match[str]) -> str:
    literal = found.group(0)
    quote = literal[1]
    inner = literal[2:-1]
    words = inner.split(" ", 2)
    verb = words[0].strip().upper()
    if verb in _SAFE_VERBS:
        return literal
    if verb == "AUTH" and len(words) > 1:
        suffix = " ***" if len(words) > 2 else ""
        return f"b{quote}AUTH {words[1]}{suffix}{quote}"
    return f"b{quote}***{quote}"


def mask(text: str) -> str:
    if "b'" in text or 'b"' in text:
        text = _CLIENT_BYTES.sub(_client_line, text)
    text = _UNRECOGNISED.sub(lambda found: found.group(1) + "***", text)
    return _SECRET_RUN.sub("***", text)


class CredentialFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it, with its args
            message, record.args = str(record.msg), None
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install(level: str) -> None:
    """The filter on aiosmtpd's logger (idempotent). Its per-command INFO lines (every
    peer, command and address) are left out unless the service logs at DEBUG, or the
    operator set that logger's level."""
    logger = logging.getLogger(AIOSMTPD_LOGGER)
    if not any(isinstance(each, CredentialFilter) for each in logger.filters):
        logger.addFilter(CredentialFilter())
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
