"""Shared pieces of the consortium's services: checks of required fields and e-mail addresses."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

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


def _check_email(field: str, value: str) -> None:
    try:
        validate_email(value)
    except DjangoValidationError:
        message = f"'{value}' is not a valid e-mail address."
        raise ValidationFailed(message, code="invalid_email", errors={field: [message]}) from None
