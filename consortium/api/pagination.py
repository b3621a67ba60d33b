"""The API's paginators: page numbers (every list's default) and cursors, each page size chosen by the client
and capped at API_MAX_PAGE_SIZE.

The paginators' parameters are strict, as every other query parameter of the API:

- `page_size` is a whole number of ASCII digits, at least 1 (400 invalid_page_size otherwise, naming it);
  one above API_MAX_PAGE_SIZE is taken as API_MAX_PAGE_SIZE. DRF read anything else (`abc`, `0`, `-1`) as
  the default size, so a client's mistake went unseen.
- `page` is a whole number from 1, or `last` (400 invalid_page otherwise, naming it); a page past the last
  is 404, as DRF answers it (the schema's 404 "a page past the last"). DRF answered 404 "Invalid page." to
  `?page=abc` and `?page=0` too, as if the client had paged too far rather than sent no page number.
- An empty `?page=`, `?page_size=` or `?cursor=` is the parameter not given (the first page, the default
  size): an empty query parameter is one not given, everywhere in the API (consortium.api.filters.FilterSet).
  Any other cursor must be one the API handed out.

Every page is cut from a total order, so that a row never moves between pages while nothing changes: a
page-numbered list whose order (the client's `?ordering=` or the list's own) does not end in a unique column
gets its primary key as the last key, in the direction of the order's last key (`?ordering=-title` is
`-title, -id`; reversing every key reverses the whole list). A cursor pages by its first key alone, so a
cursor list must be ordered by a unique column (CursorPagination refuses any other at its first request)."""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db.models import F, Model, QuerySet
from django.db.models.expressions import OrderBy
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from consortium.errors import ValidationFailed
from consortium.numbers import whole_number


def positive_integer(text: str) -> int | None:
    """`text` as a whole number of at least 1 (ASCII digits), or None if it is not one."""
    number = whole_number(text)
    return number if number else None


PAGE_SIZE = "page_size"
MAX_PAGE_SIZE: int = settings.API_MAX_PAGE_SIZE


class PageSizeMixin:
    """The client's `page_size`: empty or not given is the paginator's default, a whole number of at least 1
    is taken up to MAX_PAGE_SIZE, anything else is ValidationFailed(invalid_page_size)."""

    page_size: int | None
    page_size_query_param: str | None = PAGE_SIZE
    max_page_size: int | None = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int | None:
        given = request.query_params.get(PAGE_SIZE)
        if not given:
            return self.page_size
        size = positive_integer(given)
        if size is None:
            raise ValidationFailed(
                f"The page size is a whole number from 1 (at most {MAX_PAGE_SIZE} rows are sent: a larger "
                "size gives that many).",
                code="invalid_page_size",
                errors={PAGE_SIZE: [f"A whole number from 1 to {MAX_PAGE_SIZE}."]},
            )
        return min(size, MAX_PAGE_SIZE)

    def page_size_parameter(self) -> dict[str, Any]:
        """The schema of `page_size`: its bounds and what a larger one gives."""
        return {
            "name": PAGE_SIZE,
            "required": False,
            "in": "query",
            "description": (
                f"Rows per page: a whole number from 1 (default {self.page_size}). A size above "
                f"{MAX_PAGE_SIZE} is taken as {MAX_PAGE_SIZE}; anything else is 400 `invalid_page_size`."
            ),
            "schema": {"type": "integer", "minimum": 1},
        }


class PageNumberPagination(PageSizeMixin, pagination.PageNumberPagination):
    """Pages by number over a total order (see the module docstring)."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        if isinstance(queryset, QuerySet):
            queryset = totally_ordered(queryset)
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound:
            # DRF said only "Invalid page."; counting the pages again costs a query only on this refusal.
            page_size = self.get_page_size(request)
            assert page_size is not None  # it paginated, so it had a size
            paginator = self.django_paginator_class(queryset, page_size)
            pages, rows = paginator.num_pages, paginator.per_page
            raise NotFound(
                f"There is no page {request.query_params.get(self.page_query_param)}: this list has {pages} "
                f"page{'s' if pages != 1 else ''} of {rows} rows. `page=last` is the last."
            ) from None

    def get_page_number(self, request: Request, paginator: Any) -> int:
        given = request.query_params.get(self.page_query_param)
        if not given:
            return 1
        if given in self.last_page_strings:
            return paginator.num_pages
        number = positive_integer(given)
        if number is None:
            raise ValidationFailed(
                "The page is a whole number from 1, or `last`.",
                code="invalid_page",
                errors={self.page_query_param: ["A whole number from 1, or last."]},
            )
        return number

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "The page: a whole number from 1 (default 1), or `last`. Anything else is 400 "
                    "`invalid_page`; a page past the last is 404."
                ),
                "schema": {"type": "integer", "minimum": 1},
            },
            self.page_size_parameter(),
        ]


def totally_ordered(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """`queryset` in its own order (its order_by, else its model's Meta.ordering), with the primary key as
    the last key unless the last key already is a unique column: in the last key's direction, ascending if
    there is none."""
    query = queryset.query
    keys = list(query.order_by) or (list(queryset.model._meta.ordering) if query.default_ordering else [])
    if keys and _names_unique_column(queryset.model, keys[-1]):
        return queryset
    return queryset.order_by(*keys, "-pk" if keys and _descending(keys[-1]) else "pk")


def _key_name(key: Any) -> str | None:
    """The column an ordering key names (without its `-`), or None for an expression on anything else."""
    if isinstance(key, str):
        return key.removeprefix("-")
    expression = key.expression if isinstance(key, OrderBy) else key
    return getattr(expression, "name", None) if isinstance(expression, F) else None


def _descending(key: Any) -> bool:
    if isinstance(key, str):
        return key.startswith("-")
    return isinstance(key, OrderBy) and key.descending


def _names_unique_column(model: type[Model], key: Any) -> bool:
    """Whether the ordering key is a column of `model` no two rows share (its primary key, or unique)."""
    name = _key_name(key)
    if name is None or "__" in name:
        return False
    if name == "pk":
        return True
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:  # an annotation
        return False
    return bool(getattr(field, "unique", False))


# What a cursor DRF hands out holds: its urlencoded tokens, an offset (o) and a direction (r) where they are
# not the default, and always the position (p) it starts from.
_CURSOR_TOKENS = {"o", "r", "p"}


class CursorPagination(PageSizeMixin, pagination.CursorPagination):
    """DRF's cursor pagination, refusing with 400 invalid_cursor (naming `cursor`) every cursor it did not
    hand out. DRF refused some with a 404 and read others as the first page: it decodes base64 leniently,
    dropping what is not base64, and takes missing tokens for their defaults, so `?cursor=%20`, `?cursor=!!`
    or `?cursor=YQ==` ("a") listed the first page as if the client's cursor were good.

    Its ordering's first key must be a unique column of the list's model: DRF positions a cursor on that key
    alone, so over a key rows share, a page starting among equal values skips or repeats rows once rows
    come or go (ImproperlyConfigured otherwise, at the first request)."""

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        ordering = super().get_ordering(request, queryset, view)
        if not _names_unique_column(queryset.model, ordering[0]):
            raise ImproperlyConfigured(
                f"{type(self).__name__} orders by {ordering[0]!r}, which is not a unique column of "
                f"{queryset.model.__name__}: a cursor over it skips or repeats rows."
            )
        return ordering

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        cursor, *_ = super().get_schema_operation_parameters(view)
        return [cursor, self.page_size_parameter()]

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        """The cursor's offset, direction and position; None (the first page) for none or an empty one;
        ValidationFailed(invalid_cursor) for one the API did not hand out."""
        encoded = request.query_params.get(self.cursor_query_param)
        if not encoded:
            return None
        try:
            tokens = parse_qsl(
                b64decode(encoded.encode("ascii"), validate=True).decode("ascii"),
                keep_blank_values=True,
                strict_parsing=True,
            )
        except (UnicodeError, binascii.Error, ValueError):
            raise invalid_cursor() from None
        names = [name for name, _ in tokens]
        if "p" not in names or len(set(names)) != len(names) or not set(names) <= _CURSOR_TOKENS:
            raise invalid_cursor()
        try:
            return super().decode_cursor(request)
        except NotFound as exc:  # a malformed cursor is the client's mistake, not a missing resource
            raise invalid_cursor() from exc


def invalid_cursor() -> ValidationFailed:
    """The refusal of a cursor the API did not hand out."""
    return ValidationFailed(
        "The cursor is not one this API handed out: follow the `next` and `previous` links as given.",
        code="invalid_cursor",
        errors={"cursor": ["invalid cursor"]},
    )
