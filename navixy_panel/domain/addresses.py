"""Email addresses as dealers give them.

A dealer's `email_from` is a bare address or one with a display name,
`Navixy <no-reply@navixy.com>` (both forms are Navixy's documented ones). Other
addresses, a gateway's `default_from_address` and the dealer's `email_special`,
are bare. The address itself is checked as everywhere else in the service
(marshmallow's Email validator); a display name is parsed by the standard
library's RFC 5322 header parser, never by hand. Control and invisible
formatting characters are refused anywhere in the value: they would reach an
SMTP command or a header (a vertical tab made a send fail with a 500 after the
gateway had been saved).

The header parser is super-linear (a 120 KB `email_from` of `", "` took 27 s on
the event loop) and recursive (a few hundred nested `(` raise RecursionError), so
nothing reaches it before two linear checks: the field's length limit, and a scan
that refuses a list of addresses and deeply nested comments. Within the limits a
parse takes a few milliseconds.
"""

from __future__ import annotations

import unicodedata
from email.errors import HeaderParseError, NonASCIILocalPartDefect
from email.headerregistry import Address
from email.policy import default as default_policy
from typing import Any

from marshmallow import ValidationError, fields, validate

NOT_EMAIL = "Not a valid email address."  # marshmallow's own wording, kept everywhere
TOO_LONG = "Longer than maximum length {max}."  # marshmallow's Length wording
CONTROL = "Must not contain control characters."
ONE_ADDRESS = "Must be one address, optionally with a display name: Name <name@example.com>."
BARE = "Must be a bare address such as name@example.com, without a display name."

# C0, DEL and C1 controls, invisible formatting (bidi overrides, zero-width), line and
# paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_check_address = validate.Email(error=NOT_EMAIL)
# The header parser is lenient (it notes defects), but some malformed input makes it
# fail outright, with AttributeError among others (e.g. `.:` or `:;:` in CPython 3.11):
# any of these means "not one address".
_PARSER_FAILURES = (HeaderParseError, ValueError, IndexError, AttributeError, TypeError,
                    RecursionError)
# RFC 5321's limit on a path (256) less its angle brackets: no SMTP server takes a
# longer address, so no address field needs more.
MAX_LENGTH = 254
# Real display names carry no comment, let alone nested ones; RFC 5322 allows any depth,
# the header parser recurses on each.
MAX_COMMENT_DEPTH = 3


def check_length(value: str, max_length: int = MAX_LENGTH) -> None:
    """The field's own limit, in marshmallow's words, before anything looks inside."""
    if len(value) > max_length:
        raise ValueError(TOO_LONG.format(max=max_length))


def _scan(text: str, *, display_name: bool) -> None:
    """One linear pass over the value as RFC 5322 reads it (quoted strings with their
    escapes, comments, angle brackets): a `,` or `;` outside them separates
    addresses (or ends a group), and comments may not nest deeply."""
    depth, quoted, escaped, angle = 0, False, False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == "(":
            depth += 1
            if depth > MAX_COMMENT_DEPTH:
                raise ValueError(NOT_EMAIL)
        elif depth:
            if char == ")":
                depth -= 1
        elif char == '"':
            quoted = True
        elif char in "<>":
            angle = char == "<"
        elif char in ",;" and not angle:
            raise ValueError(ONE_ADDRESS if display_name else NOT_EMAIL)


def parse(value: str, *, display_name: bool, max_length: int = MAX_LENGTH) -> Address:
    """`value` as one mailbox; `ValueError` with a message fit for a client when it is
    not one. A display name is accepted only when `display_name` is true."""
    check_length(value, max_length)
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value):
        raise ValueError(CONTROL)
    text = value.strip()
    _scan(text, display_name=display_name)
    if not display_name:
        _addr_spec(text, bare=True)
    try:
        header = default_policy.header_factory("From", text)
    except _PARSER_FAILURES:
        raise ValueError(NOT_EMAIL) from None
    mailboxes = header.addresses
    if len(mailboxes) > 1 or any(group.display_name is not None for group in header.groups):
        raise ValueError(ONE_ADDRESS)
    # A non-ASCII local part is legal with SMTPUTF8 (and the validator accepts it).
    defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
    if len(mailboxes) != 1 or defects:
        raise ValueError(NOT_EMAIL)
    if display_name:
        _addr_spec(mailboxes[0].addr_spec, bare=False)
    return mailboxes[0]


def _addr_spec(text: str, *, bare: bool) -> None:
    try:
        _check_address(text)
    except ValidationError:
        # Only `Name <address>` is worth the full parse for a better message.
        if bare and "<" in text and _has_display_name(text):
            raise ValueError(BARE) from None
        raise ValueError(NOT_EMAIL) from None


def _has_display_name(text: str) -> bool:
    try:
        return bool(parse(text, display_name=True))
    except ValueError:
        return False


class Mailbox(fields.String):
    """An address parameter: loads the text as given (trimmed), once `parse` accepts it.

    `display_name=True` also takes `Name <address>`; the OpenAPI document then shows a
    plain string (JSON Schema's `email` format has no display name), else `email`.
    `max_length` is checked before the value is parsed (a `validate=Length` would run
    only after it).
    """

    def __init__(self, *, display_name: bool = False, max_length: int = MAX_LENGTH,
                 **kwargs: Any) -> None:
        if not display_name:
            kwargs["metadata"] = {"format": "email", **kwargs.get("metadata", {})}
        kwargs["metadata"] = {"maxLength": max_length, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)
        self.display_name, self.max_length = display_name, max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        try:
            parse(text, display_name=self.display_name, max_length=self.max_length)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return text.strip()


class Email(fields.Email):
    """marshmallow's Email, with the length limit checked first: its validator's
    regular expressions take time in proportion to what they are given, and a
    recipient is parsed again when the message is built."""

    def __init__(self, *, max_length: int = MAX_LENGTH, **kwargs: Any) -> None:
        kwargs["metadata"] = {"maxLength": max_length, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            try:
                check_length(value, self.max_length)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
        result: str = super()._deserialize(value, attr, data, **kwargs)
        return result
