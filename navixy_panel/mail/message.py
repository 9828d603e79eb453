"""The test message a dealer sends to check a gateway."""

from __future__ import annotations

import base64
import functools
import html
import uuid
from email import message_from_bytes
from email.charset import QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP as SMTP_POLICY
from email.policy import compat32, default
from email.utils import formataddr, formatdate, make_msgid
from typing import Any

import orjson

from navixy_panel.domain import addresses
from navixy_panel.domain.errors import InvalidInput

SUBJECT = "Test message from navixy-panel"


def build_test_message(*, sender: str, to: str, gateway_label: str,
                 footer: str | None) -> EmailMessage:
    """`sender` is a bare address or `Name <address>`: the From header keeps the name
    (RFC 2047-encoded when it is not ASCII, by the email package's generator), and the
    SMTP client takes the bare address from it for MAIL FROM.

    Both addresses are parsed again here, whatever checked them on the way in: a value
    stored before addresses were checked as they are now, or a `to` with a control
    character that marshmallow's Email lets through in a quoted local part, is a
    refusal naming it, never a failure while the message is built."""
    mailbox = _mailbox("email_from", sender, display_name=True,
                       hint=" Correct the gateway's default_from_address or the dealer's "
                            "email_from.")
    recipient = _mailbox("to", to, display_name=False)
    body = (f"This is a test message sent through the email gateway \"{gateway_label}\".\n"
            "If you can read it, the gateway works.")
    message = EmailMessage()
    message["From"] = mailbox
    message["To"] = recipient
    message["Subject"] = SUBJECT
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:12],
                                       domain=mailbox.domain or None)
    message.set_content(body + (f"\n\n{footer}" if footer else "") + "\n")
    return message


def _mailbox(field: str, value: str, *, display_name: bool, hint: str = "") -> Address:
    try:
        return addresses.parse(value, display_name=display_name)
    except ValueError as exc:
        raise InvalidInput.of(field, f"{exc}{hint}") from None


# ---- submitted messages ---------------------------------------------------------------
#
# What was submitted is stored as bytes (`mail_messages.content`) and turned into the
# message that is sent only at delivery time, because the From, the footer and the route
# are the dealer's at that moment. Two forms, told apart by the first byte: `J` and a JSON
# object of the parts (HTTP), `R` and the message as received (SMTP).

def pack_parts(*, to: list[str], cc: list[str], text: str | None, html: str | None,
               attachments: list[dict[str, str]], reply_to: str | None,
               sender: str | None, date: str) -> bytes:
    """`attachments`: {filename, content_type, content_base64}, the base64 as submitted
    (checked by the face), so it is neither decoded nor encoded again until delivery."""
    return b"J" + orjson.dumps({"to": to, "cc": cc, "text": text, "html": html,
                                "attachments": attachments, "reply_to": reply_to,
                                "sender": sender, "date": date})


def pack_raw(raw: bytes, *, to: list[str], sender: str | None) -> bytes:
    envelope = orjson.dumps({"to": to, "sender": sender})
    return b"R" + len(envelope).to_bytes(4, "big") + envelope + raw


def build_delivery(content: bytes, *, sender: str, subject: str, message_id: str,
                   footer: str | None) -> bytes:
    """The bytes sent for a submitted message: From is `sender` (the dealer's identity),
    a From the submitter gave becomes Reply-To unless one was given, the footer ends
    the text part (and the HTML part, escaped, as a paragraph), Message-ID is the one
    chosen at submission."""
    if content[:1] == b"R":
        size = int.from_bytes(content[1:5], "big")
        envelope = orjson.loads(content[5:5 + size])
        return _rewrite_raw(content[5 + size:], sender=sender, message_id=message_id,
                            footer=footer, submitter=envelope.get("sender"))
    parts = orjson.loads(content[1:])
    text, html = parts["text"], parts["html"]
    if footer:
        text = None if text is None else f"{text.rstrip()}\n\n{footer}\n"
        html = None if html is None else f"{html}\n<p>{_escape(footer)}</p>"
    body: Message
    if html is not None and text is not None:
        body = MIMEMultipart("alternative", _subparts=[_text(text, "plain"), _text(html, "html")])
    else:
        body = _text(html, "html") if html is not None else _text(text or "", "plain")
    if parts["attachments"]:
        body = MIMEMultipart("mixed", _subparts=[body, *map(_attachment, parts["attachments"])])
    headers = [("From", _address_header(sender, "email_from")),
               ("To", ", ".join(parts["to"]))]
    if parts["cc"]:
        headers.append(("Cc", ", ".join(parts["cc"])))
    reply_to = parts["reply_to"] or parts["sender"]
    if reply_to:
        headers.append(("Reply-To", _address_header(reply_to, "reply_to")))
    headers += [("Subject", subject if subject.isascii() else Header(subject, "utf-8").encode()),
                ("Date", parts["date"]), ("Message-ID", message_id)]
    for name, value in headers:
        body[name] = value
    return body.as_bytes(policy=_FAST_POLICY)


# The email package's default policy parses every header it is given into objects and
# folds them again on output: 45 % of a delivery's CPU in a profile of 200 messages a
# second. The legacy (compat32) classes take the strings as they are; every value put
# in them here is already checked (addresses by `addresses.parse`, the subject has no
# line break) or encoded (RFC 2047 for a non-ASCII display name or subject).
_FAST_POLICY = compat32.clone(linesep="\r\n")


_QUOTED_UTF8 = Charset("utf-8")
_QUOTED_UTF8.body_encoding = QP


def _text(value: str, subtype: str) -> MIMEText:
    """7bit when it may be (ASCII, no line over SMTP's 998 characters), else UTF-8 in
    quoted-printable, which keeps lines short and the text readable."""
    if value.isascii() and max(map(len, value.splitlines()), default=0) <= 998:
        return MIMEText(value, subtype, "us-ascii")
    return MIMEText(value, subtype, _QUOTED_UTF8)  # type: ignore[arg-type]


def _attachment(item: dict[str, str]) -> MIMEBase:
    maintype, _, subtype = item["content_type"].partition("/")
    part = MIMEBase(maintype, subtype or "octet-stream")
    part.set_payload(base64.encodebytes(base64.b64decode(item["content_base64"])).decode())
    part["Content-Transfer-Encoding"] = "base64"
    part.add_header("Content-Disposition", "attachment", filename=item["filename"])
    return part


@functools.lru_cache(maxsize=4096)
def _address_header(value: str, field: str) -> str:
    """A mailbox as a header value, checked once per distinct value (senders repeat)."""
    mailbox = _mailbox(field, value, display_name=True)
    return formataddr((mailbox.display_name, mailbox.addr_spec), charset="utf-8")


# Headers a submitter may not set: delivery decides them (X-Navixy-Dealer routes).
_REPLACED = ("From", "Sender", "Message-ID", "X-Navixy-Dealer", "Return-Path", "Bcc")


def _rewrite_raw(raw: bytes, *, sender: str, message_id: str, footer: str | None,
                 submitter: str | None) -> bytes:
    message = message_from_bytes(raw, policy=default)
    given_from = message.get("From")
    for name in _REPLACED:
        del message[name]
    if message.get("Reply-To") is None and (given_from or submitter):
        message["Reply-To"] = str(given_from or submitter)
    message["From"] = _mailbox("email_from", sender, display_name=True)
    message["Message-ID"] = message_id
    if message.get("Date") is None:
        message["Date"] = formatdate(localtime=False)
    if footer:
        _append_footer(message, footer)
    return message.as_bytes(policy=SMTP_POLICY)


def _append_footer(message: Any, footer: str) -> None:
    """To the first text/plain and the first text/html body part, not to attachments."""
    done: set[str] = set()
    for part in message.walk():
        kind = part.get_content_type()
        if (kind in ("text/plain", "text/html") and kind not in done
                and not part.is_attachment() and not part.is_multipart()):
            body = part.get_content()
            if kind == "text/plain":
                part.set_content(f"{body.rstrip()}\n\n{footer}\n")
            else:
                part.set_content(f"{body}\n<p>{_escape(footer)}</p>", subtype="html")
            done.add(kind)


def _escape(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")
