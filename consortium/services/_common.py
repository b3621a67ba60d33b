"""Shared checks of the consortium's services: required values, text lengths, e-mail addresses."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db.models import Field, Model

from consortium.errors import ValidationFailed


def _require(field: str, value: str, message: str) -> str:
    _require_each({field: value}, {field: message})
    return value.strip()


def _require_each(values: Mapping[str, str | None], messages: Mapping[str, str]) -> None:
    """Raise ValidationFailed(required) if any field of `messages` is missing from `values`, None or blank
    (white space only), with `errors` naming each such field with its message: a client told of one missing
    field at a time would send the request again for each."""
    missing = {
        field: [message] for field, message in messages.items() if not (values.get(field) or "").strip()
    }
    if missing:
        detail = " ".join(message for [message] in missing.values())
        raise ValidationFailed(detail, code="required", errors=missing)


def _refuse_too_long(model: type[Model], values: Mapping[str, str | None]) -> None:
    """Raise ValidationFailed(too_long) if any of `values` (text as it would be stored) is longer than its
    field of `model` takes (max_length, in characters, as PostgreSQL counts them), with `errors` naming
    each such field with its maximum: a client told of one at a time would send the request again for each.
    SQLite stores text of any length; PostgreSQL refused it past the column, a 500."""
    too_long = {}
    for field, value in values.items():
        column = model._meta.get_field(field)
        assert isinstance(column, Field)  # a column of the model's own, not a relation's other end
        if value is not None and column.max_length is not None and len(value) > column.max_length:
            too_long[field] = [
                f"The {column.verbose_name} is too long: at most {column.max_length} characters, "
                f"not {len(value)}."
            ]
    if too_long:
        detail = " ".join(message for [message] in too_long.values())
        raise ValidationFailed(detail, code="too_long", errors=too_long)


def _check_email(field: str, value: str) -> None:
    try:
        validate_email(value)
    except DjangoValidationError:
        message = f"'{value}' is not a valid e-mail address."
        raise ValidationFailed(message, code="invalid_email", errors={field: [message]}) from None
