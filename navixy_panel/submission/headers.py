"""What a submitted message says about itself, read from its header block only: the
dealer it is for (`X-Navixy-Dealer`) and its subject (for the message log).

The header block of a large message is parsed in a worker thread, so a message of
many megabytes with no blank line never holds the event loop.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default

from marshmallow import Schema, ValidationError, fields, validate

from navixy_panel.domain.errors import InvalidInput, OutsideSubtree

DEALER_HEADER = "X-Navixy-Dealer"
SUBJECT_MAX = 998  # one header line (RFC 5322), as the HTTP face allows
THREAD_FROM_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class HeaderSchema(Schema):
    """`dealer`: a login, or a dealer id (a number that is no login in the key's
    subtree; `handler.py` tries it as a login first)."""

    dealer = fields.String(load_default=None, validate=[
        validate.Length(1, 255),
        validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="Must not contain control characters.")])
    subject = fields.String(load_default="")


HEADERS = HeaderSchema()


@dataclass(frozen=True, slots=True)
class Headers:
    dealer: str | None
    subject: str


async def read(raw: bytes) -> Headers:
    head = _header_block(raw)
    if len(head) >= THREAD_FROM_BYTES:
        return await asyncio.to_thread(_parse, head)
    return _parse(head)


def _header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw if end < 0 else raw[:end + 2]


def _parse(head: bytes) -> Headers:
    parsed = BytesHeaderParser(policy=default).parsebytes(head)
    dealers = parsed.get_all(DEALER_HEADER) or []
    if len(dealers) > 1:
        raise InvalidInput.of(DEALER_HEADER, "Give one X-Navixy-Dealer header at most.")
    values: dict[str, str] = {}
    if dealers:
        values["dealer"] = str(dealers[0]).strip()
    try:
        subject = str(parsed.get("Subject", ""))
    except Exception:  # a header the parser cannot decode: the log shows none
        subject = ""
    values["subject"] = _CONTROL.sub(" ", subject).strip()[:SUBJECT_MAX]
    try:
        loaded = HEADERS.load(values)
    except ValidationError:
        # No dealer has such a login: the answer of any dealer outside the subtree.
        raise OutsideSubtree() from None
    return Headers(loaded["dealer"], loaded["subject"])
