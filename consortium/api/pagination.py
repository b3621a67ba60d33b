"""The API's paginators: page numbers (every list's default) and cursors, each page size chosen by the client
and capped at API_MAX_PAGE_SIZE.

An empty `?page=` or `?cursor=` is the first page: an empty query parameter is one not given, everywhere in
the API (consortium.api.filters.FilterSet). Any other cursor must be one the API handed out."""

from __future__ import annotations

import binascii
from base64 import b64decode
from urllib.parse import parse_qsl

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from consortium.errors import ValidationFailed


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE


# What a cursor DRF hands out holds: its urlencoded tokens, an offset (o) and a direction (r) where they are
# not the default, and always the position (p) it starts from.
_CURSOR_TOKENS = {"o", "r", "p"}


class CursorPagination(pagination.CursorPagination):
    """DRF's cursor pagination, refusing with 400 invalid_cursor (naming `cursor`) every cursor it did not
    hand out. DRF refused some with a 404 and read others as the first page: it decodes base64 leniently,
    dropping what is not base64, and takes missing tokens for their defaults, so `?cursor=%20`, `?cursor=!!`
    or `?cursor=YQ==` ("a") listed the first page as if the client's cursor were good."""

    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE

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
