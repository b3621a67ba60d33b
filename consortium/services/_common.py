"""Shared pieces of the consortium's services: checks of required fields and e-mail addresses."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from consortium.errors import ValidationFailed


def _require(field: str, value: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(message, code="required", errors={field: [message]})
    return value


def _check_email(field: str, value: str) -> None:
    try:
        validate_email(value)
    except DjangoValidationError:
        message = f"'{value}' is not a valid e-mail address."
        raise ValidationFailed(message, code="invalid_email", errors={field: [message]}) from None
