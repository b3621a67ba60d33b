"""Serializer fields shared by the apps' APIs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from consortium.ids import MAX_ID
from consortium.numbers import MAX_INTEGER, MIN_INTEGER, whole_number


class WholeNumberField(serializers.IntegerField):
    """An integer: a JSON integer, or ASCII digits after an optional "-" (a query parameter, a form-encoded
    body), within a 64-bit signed integer unless narrowed. DRF's IntegerField also took 3.0, "3.0", " 3",
    "+3" and other scripts' digits ("٣"), and any size, which no integer column holds."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", MIN_INTEGER)
        kwargs.setdefault("max_value", MAX_INTEGER)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if type(data) is int:  # not a bool: JSON true is not the number 1
            return data
        if isinstance(data, str) and (number := whole_number(data, signed=True)) is not None:
            return number
        self.fail("invalid")


class IdField(WholeNumberField):
    """The id of a row: a whole number from 1 to MAX_ID. Anything else is a validation error, so a lookup
    or a stored reference never sees a number no id column can hold."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)
