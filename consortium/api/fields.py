"""Serializer fields shared by the apps' APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from consortium.ids import MAX_ID
from consortium.numbers import MAX_INTEGER, MIN_INTEGER, whole_number


class WholeNumberField(serializers.IntegerField):
    """An integer: a JSON integer, or ASCII digits after an optional "-" (a query parameter, a form-encoded
    body), within a 64-bit signed integer unless narrowed. DRF's IntegerField also took 3.0, "3.0", " 3",
    "+3" and other scripts' digits ("٣"), and any size, which no integer column holds.

    `service_range` (lowest, highest) is what the service accepts, where it refuses the rest with a code of
    its own: the schema shows that range, while the field still reads everything from `min_value` to
    `max_value` and leaves the service to refuse. Narrowing `max_value` instead would answer a value
    between the two with `validation_error` rather than the service's code."""

    def __init__(self, *, service_range: tuple[int, int] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", MIN_INTEGER)
        kwargs.setdefault("max_value", MAX_INTEGER)
        super().__init__(**kwargs)
        if service_range is not None:
            lowest, highest = service_range
            # On the instance, which the decorator annotates as it does a class (its hint wants a callable):
            # DRF copies a declared field by calling __init__ again with the same arguments.
            documented = serializers.IntegerField(min_value=lowest, max_value=highest)
            extend_schema_field(documented)(self)  # type: ignore[type-var]

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


class ServiceChoiceField(serializers.ChoiceField):
    """A choice the service judges: a string that is none of the choices is passed on as given, for the
    service to refuse with a code of its own (`unknown_role`, `bad_decision`, ...) that names the field in
    `errors`. A ChoiceField refused it first, as DRF's field errors all are refused (`validation_error`),
    which shadowed the documented code. The schema is a ChoiceField's; a value that is not a string
    (a number, a list) is still DRF's `invalid_choice`."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and data not in self.choice_strings_to_values:
            return data
        return super().to_internal_value(data)


class ZonedDateTimeField(serializers.DateTimeField):
    """A time that must name its zone or offset, which the service checks: one without is passed on naive,
    for the service to refuse with its own code (an API key's `invalid_expiry`). DRF's DateTimeField took it
    as a time in the server's zone before the service saw it. A time with an offset is converted as DRF
    converts it."""

    def enforce_timezone(self, value: datetime) -> datetime:
        return value if timezone.is_naive(value) else super().enforce_timezone(value)


class TextField(serializers.CharField):
    """Text, and only text: a JSON string (a form or query value is one). DRF's CharField took a JSON number
    for its digits as Python writes them (123 -> "123", 1.10 -> "1.1", 1e400 -> "inf"), where the schema
    promises a string and a client sending a number has made a mistake worth hearing about. A number is now
    refused as DRF already refused true, a list or an object: "Not a valid string.", the field named in
    `errors`. Every text field of a request body is one (tests/api/test_text_fields_take_only_text.py)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class SlugTextField(TextField, serializers.SlugField):
    """A slug (letters, digits, "-" and "_"), given as text (TextField)."""


class FreeTextField(TextField):
    """Free text over several lines (a description, terms, a justification, a reason) that the service
    checks for hidden characters (consortium.text.refuse_hidden_characters_in_text). DRF's CharField
    refused a NUL itself, as `validation_error` "Null characters are not allowed.", while the service
    refuses every other such character as `hidden_character` naming it: the field leaves NUL and lone
    surrogates (which the JSON parser refuses before) to the service, so all are told alike."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        left_to_the_service = (ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator)
        self.validators = [v for v in self.validators if not isinstance(v, left_to_the_service)]
