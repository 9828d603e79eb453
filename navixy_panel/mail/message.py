"""The test message a dealer sends to check a gateway."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

SUBJECT = "Test message from navixy-panel"


def test_message(*, sender: str, to: str, gateway_label: str,
                 footer: str | None) -> EmailMessage:
    body = (f"This is a test message sent through the email gateway \"{gateway_label}\".\n"
            "If you can read it, the gateway works.")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = SUBJECT
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:12],
                                       domain=sender.rpartition("@")[2] or None)
    message.set_content(body + (f"\n\n{footer}" if footer else "") + "\n")
    return message
