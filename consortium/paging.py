"""Pagination shared by the portal's list pages (consortium and exchange)."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PAGE_SIZE = 25


def page_of(request: HttpRequest, queryset: QuerySet) -> Page:
    """The page the request asks for (`?page=`), the last one if past the end."""
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def query_without_page(request: HttpRequest) -> str:
    """The request's query string without `page`, for building the pager's links."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
