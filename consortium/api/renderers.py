"""The browsable API's renderer, minus one crash."""

from __future__ import annotations

from typing import Any

from rest_framework import renderers
from rest_framework.request import Request


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API. A list view without filter backends gets no filter form.

    DRF's renderer asks every list view for its queryset to build the filter form, even one with no
    filter backends to put in it. Views whose rows are not a queryset (the credit leaderboard and flags,
    built by selectors) have none to give, and DRF's get_queryset asserts: `?format=api` was a 500.
    """

    def get_filter_form(self, data: Any, view: Any, request: Request) -> str | None:
        if not getattr(view, "filter_backends", None):
            return None
        return super().get_filter_form(data, view, request)
