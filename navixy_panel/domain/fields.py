"""marshmallow fields shared by both faces."""

from __future__ import annotations

import numbers
import re
from typing import Any

from marshmallow import fields, validate

# ASCII only: `\d` (and int()) also take other scripts' digits, so "٢٥" read as 25,
# and `\s` (and int()) strip Unicode spaces such as U+00A0.
_DIGITS = re.compile(r"[ \t\r\n]*[-+]?[0-9]+[ \t\r\n]*")


MAX_ID = 2**63 - 1  # PostgreSQL bigint


class WholeNumber(fields.Integer):
    """An integer from JSON (25) or from a form or query ("25").

    marshmallow's non-strict Integer casts with int(), so 1.5 silently became 1
    (and `gateway_id: 1.5` acted on gateway 1); its strict mode refuses the
    digit strings every form sends. This accepts exactly whole numbers, written
    with the ASCII digits 0-9 when given as a string.
    """

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or not (
            isinstance(value, numbers.Integral)
            or (isinstance(value, float) and value.is_integer())
            or (isinstance(value, str) and _DIGITS.fullmatch(value))
        ):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def Id(**kwargs: Any) -> WholeNumber:  # noqa: N802 - reads as a field type
    """A database id: whole, 1..2^63-1, so an out-of-range number is a 7, not an SQL error."""
    return WholeNumber(validate=validate.Range(1, MAX_ID), **kwargs)
