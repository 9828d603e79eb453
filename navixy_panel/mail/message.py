"""The test message a dealer sends to check a gateway."""

from __future__ import annotations

import uuid
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

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
