"""Whole numbers as clients and operators write them: ASCII digits, nothing else.

int() is lenient in ways a query string, a form field or a setting should not be: it takes " 3", "+3",
"3_000", digits of other scripts ("٣") and, behind DRF's and Django's integer fields, "3.0"; str.isdigit
takes "²", which int() then refuses. Every place that reads a number from text reads it here.
"""

from __future__ import annotations

import re

# For URL patterns too: their \d also matches other scripts' digits.
WHOLE_NUMBER_PATTERN = "[0-9]+"
_DIGITS = re.compile(WHOLE_NUMBER_PATTERN)
_SIGNED_DIGITS = re.compile("-?" + WHOLE_NUMBER_PATTERN)
# More significant digits than this is a number past every range the callers accept, and int() refuses
# more than 4,300 of them.
_MAX_DIGITS = 30
BEYOND_ANY_RANGE = 10**_MAX_DIGITS
# The range of a 64-bit signed integer: of every BigIntegerField, and of what SQLite can bind at all.
MIN_INTEGER, MAX_INTEGER = -(2**63), 2**63 - 1


def whole_number(text: str, *, signed: bool = False) -> int | None:
    """`text` as an integer if it is ASCII digits (after a "-" if `signed`), else None. A number of more
    than 30 significant digits comes back as BEYOND_ANY_RANGE (negated if negative), for the caller's range
    check to refuse or clamp."""
    if (_SIGNED_DIGITS if signed else _DIGITS).fullmatch(text) is None:
        return None
    negative = text.startswith("-")
    digits = text.lstrip("-").lstrip("0") or "0"
    value = BEYOND_ANY_RANGE if len(digits) > _MAX_DIGITS else int(digits)
    return -value if negative else value


def path_number(text: str) -> int:
    """A number that a URL pattern matched as WHOLE_NUMBER_PATTERN, however long (a view's int() raised
    ValueError, a 500, past 4,300 digits); one past every column's range finds no row."""
    number = whole_number(text)
    if number is None:
        raise ValueError(f"{text!r} does not match WHOLE_NUMBER_PATTERN")
    return number
