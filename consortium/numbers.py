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
# A number past _MAX_DIGITS is named in full up to this many digits, and by its first _SHOWN_DIGITS past it.
_NAMED_IN_FULL = 40
_SHOWN_DIGITS = 20


class _BeyondAnyRange(int):
    """BEYOND_ANY_RANGE (or its negation) as a number, but named as the digits it was read from: a message
    about it ("No ledger entry {seq}") names what was asked for, not 10**30. Its repr is the number."""

    shown: str

    def __new__(cls, value: int, shown: str) -> _BeyondAnyRange:
        number = super().__new__(cls, value)
        number.shown = shown
        return number

    def __getnewargs__(self) -> tuple[int, str]:  # type: ignore[override]  # for copy and pickle
        return int(self), self.shown

    def __str__(self) -> str:
        return self.shown


def whole_number(text: str, *, signed: bool = False) -> int | None:
    """`text` as an integer if it is ASCII digits (after a "-" if `signed`), else None. A number of more
    than 30 significant digits comes back as BEYOND_ANY_RANGE (negated if negative), for the caller's range
    check to refuse or clamp; as text (str, f-strings) it is still the number read, its first 20 digits
    and how many there are past 40 (int() refuses more than 4,300 digits, and a message needs fewer)."""
    if (_SIGNED_DIGITS if signed else _DIGITS).fullmatch(text) is None:
        return None
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("-").lstrip("0") or "0"
    if len(digits) <= _MAX_DIGITS:
        return int(sign + digits)
    if len(digits) > _NAMED_IN_FULL:
        digits = f"{digits[:_SHOWN_DIGITS]}… ({len(digits):,} digits)"
    return _BeyondAnyRange(-BEYOND_ANY_RANGE if sign else BEYOND_ANY_RANGE, sign + digits)


def path_number(text: str) -> int:
    """A number that a URL pattern matched as WHOLE_NUMBER_PATTERN, however long (a view's int() raised
    ValueError, a 500, past 4,300 digits); one past every column's range finds no row."""
    number = whole_number(text)
    if number is None:
        raise ValueError(f"{text!r} does not match WHOLE_NUMBER_PATTERN")
    return number
