"""Pagination shared by the portal's list pages (consortium and exchange)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PAGE_SIZE = 25


def page_of(request: HttpRequest, queryset: QuerySet | Sequence[Any]) -> Page:
    """The page the request asks for (`?page=`), the last one if past the end (of a queryset, or of a list
    a selector built)."""
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def page_number(queryset: QuerySet, number: str | None) -> int:
    """The number of the page `number` names, as `page_of` reads `?page=`: the last page's for a number
    past the end or below 1, 1 for anything but a whole number."""
    return Paginator(queryset, PAGE_SIZE).get_page(number).number


def query_without_page(request: HttpRequest) -> str:
    """The request's query string without `page`, for building the pager's links."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
