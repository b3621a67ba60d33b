"""django-filter filter sets for the consortium's list endpoints, and the filters every app's API shares."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import django_filters
import django_filters.fields
from django import forms
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import filters, serializers
from rest_framework.request import Request

from consortium.api.fields import IdField
from consortium.errors import ValidationFailed
from consortium.forms import WholeNumberFormField
from consortium.ids import MAX_ID
from consortium.models import Member, MemberAPIKey, MemberRole, MemberStatus, Sector, SizeClass, User
from consortium.numbers import MAX_INTEGER, MIN_INTEGER
from consortium.selectors import member_search


class FilterSet(django_filters.FilterSet):
    """The API's filter sets: a filter given only empty values (`?code=`) is not applied, as if not given.

    django-filter already reads one empty value so, as DRF's serializers read an empty query parameter that
    is not required and its paginators read an empty `?page=` or `?cursor=`: the rule of every query
    parameter of the API (tests/api/test_query_parameters.py walks them all). A filter of several values
    validated the empty one as a value, so `?code=` was a 400 on the credit transfers; empty values among
    others (`?code=&code=mint`) are dropped the same way."""

    def __init__(self, data: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(None if data is None else without_empty_values(data), *args, **kwargs)


def without_empty_values(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """`data` (a query's, or a plain mapping as the portal's forms give) without its empty values, and
    without the names left with none."""
    if not isinstance(data, MultiValueDict):
        return {name: value for name, value in data.items() if value != ""}
    kept = QueryDict(mutable=True)
    for name, values in data.lists():
        if given := [value for value in values if value != ""]:
            kept.setlist(name, given)
    return kept


@extend_schema_field(serializers.IntegerField(min_value=MIN_INTEGER, max_value=MAX_INTEGER))
class IntegerFilter(django_filters.NumberFilter):
    """A filter on an integer column: a whole number in the column's range (by default a 64-bit signed
    integer's), anything else a 400 naming the filter. django-filter's NumberFilter takes decimals up to
    1e50: it read `?order_min=2.5` as 2.5 (and `?member=2.5`, before IdFilter, as member 2), and an integer
    past 64 bits made SQLite raise OverflowError."""

    field_class = WholeNumberFormField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", MIN_INTEGER)
        kwargs.setdefault("max_value", MAX_INTEGER)
        super().__init__(*args, **kwargs)

    def get_max_validator(self) -> None:
        return None  # the field's own max_value bounds it


@extend_schema_field(IdField())  # the schema shows the bounds, as it does for IdField in a body
class IdFilter(IntegerFilter):
    """A filter on a row id: a whole number from 1 to MAX_ID, anything else a 400."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time, given back in UTC. A client's offset may be up to 23:59 and the time may be near
    year 1 or 9999; kept as given, PostgreSQL refused an offset past 15:59 and the conversion to UTC for the
    query overflowed (both a 500). Such a time is now converted here, or is a validation error."""

    def to_python(self, value: object) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("The time is out of range in UTC.", code="overflow") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """A filter on a time: ISO 8601 with any offset, compared in UTC (see UtcDateTimeField)."""

    field_class = UtcDateTimeField


class StrictBooleanField(forms.Field):
    """`true` or `false` (any case; `1` and `0` too); anything else is a validation error. Django's
    NullBooleanField, behind django-filter's BooleanFilter, reads every other value as "no filter", so
    `?revoked=maybe` listed every grant, and `?is_active=maybe` every person, with a 200 where a client
    meant to filter."""

    widget = forms.TextInput  # hands the raw value on: the Select widgets map unknown values to None
    _VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        parsed = self._VALUES.get(str(value).strip().lower())
        if parsed is None:
            # The value goes in params, never into the message itself: django-filter formats every
            # message with `message % params`, so a `%` the client sent (`?revoked=50%`) was a 500.
            raise forms.ValidationError(
                "'%(value)s' is not a boolean; use true or false.", code="invalid", params={"value": value}
            )
        return parsed


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.BooleanFilter):
    """A boolean filter that refuses what is not a boolean (see StrictBooleanField): the API's only kind of
    boolean filter (tests/api/test_boolean_filters.py walks every endpoint for another)."""

    field_class = StrictBooleanField


class OrderingFilter(filters.OrderingFilter):
    """`?ordering=`: a comma-separated list of the fields a list names in its `ordering_fields`, each
    ascending or, after `-`, descending (`?ordering=-title,created_at`). An empty value is the list's own
    order. A field the list does not name (or an empty item) is a 400 invalid_ordering naming the fields it
    takes: DRF dropped what it did not know, so `?ordering=titel` answered a 200 in the default order.

    Only the fields a view declares are offered: DRF fell back to every field of the serializer. A list that
    declares none takes no `ordering` and documents none (the parameter is then unknown to it, and ignored
    like any other). Rows equal on every field given are ordered by the paginator, which pages a total
    order (consortium.api.pagination)."""

    ordering_description = (
        "Comma-separated fields to order by, each ascending or, after `-`, descending. Rows equal on "
        "every field given come in the order of their id, in the direction of the last field given. "
        "Another field is 400 `invalid_ordering`."
    )

    def get_valid_fields(
        self, queryset: QuerySet[Any], view: Any, context: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        return [(name, name) for name in ordering_fields_of(view)]

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        given = request.query_params.get(self.ordering_param)
        allowed = ordering_fields_of(view)
        if not given or not allowed:
            return self.get_default_ordering(view)
        keys = [key.strip() for key in given.split(",")]
        unknown = [key for key in keys if key.removeprefix("-") not in allowed]
        if unknown:
            fields = ", ".join(allowed)
            raise ValidationFailed(
                f"This list cannot be ordered by {', '.join(repr(key) for key in unknown)}: give one or more "
                f"of {fields}, separated by commas, each after `-` for descending.",
                code="invalid_ordering",
                errors={self.ordering_param: [f"One or more of {fields}, each after - for descending."]},
            )
        return keys

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        allowed = ordering_fields_of(view)
        # The actions under one object (a dataset's versions, a request's receipts) order nothing.
        if not allowed or getattr(view, "action", "list") != "list":
            return []
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": self.ordering_description,
                # A comma-separated list is OpenAPI's form style, not exploded.
                "style": "form",
                "explode": False,
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": [key for name in allowed for key in (name, f"-{name}")],
                    },
                },
            }
        ]


def ordering_fields_of(view: Any) -> list[str]:
    """The fields a view lets a client order its list by: its `ordering_fields`, or none."""
    return list(getattr(view, "ordering_fields", None) or [])


class MemberFilter(FilterSet):
    status = django_filters.ChoiceFilter(choices=MemberStatus.choices)
    sector = django_filters.ChoiceFilter(choices=Sector.choices)
    size_class = django_filters.ChoiceFilter(choices=SizeClass.choices)
    cluster = django_filters.CharFilter(field_name="clusters__slug", label="Cluster slug", distinct=True)
    region = django_filters.CharFilter(lookup_expr="iexact")
    search = django_filters.CharFilter(
        method="filter_search", label="Search legal name, credit code or region (as the portal's search)"
    )

    class Meta:
        model = Member
        fields = ["status", "sector", "size_class", "cluster", "region", "search"]

    def filter_search(self, queryset: QuerySet[Member], name: str, value: str) -> QuerySet[Member]:
        return member_search(members=queryset, text=value)


class UserFilter(FilterSet):
    role = django_filters.CharFilter(method="filter_role", label="Member or consortium role")
    is_active = StrictBooleanFilter()

    class Meta:
        model = User
        fields = ["role", "is_active"]

    def filter_role(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        if value in MemberRole.values:
            return queryset.filter(member_role=value)
        return queryset.filter(consortium_role=value)


class APIKeyFilter(FilterSet):
    # Declared: the filter django-filter makes for the model's BooleanField is the lenient BooleanFilter.
    revoked = StrictBooleanFilter()

    class Meta:
        model = MemberAPIKey
        fields = ["revoked"]
