"""Serializer fields shared by the apps' APIs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

# The largest value of a 64-bit signed integer: every primary key (BigAutoField) is at most this. A larger
# Python int cannot even be bound as a query parameter on SQLite (OverflowError), and on PostgreSQL it
# overflows the bigint column it is stored in.
MAX_ID = 2**63 - 1


class IdField(serializers.IntegerField):
    """The id of a row: a whole number from 1 to MAX_ID. Anything else is a validation error, so a lookup
    or a stored reference never sees a number no id column can hold."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)
