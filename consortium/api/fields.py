"""Serializer fields shared by the apps' APIs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from consortium.ids import MAX_ID


class IdField(serializers.IntegerField):
    """The id of a row: a whole number from 1 to MAX_ID. Anything else is a validation error, so a lookup
    or a stored reference never sees a number no id column can hold."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)
