"""Refuses a query string holding a NUL before any view reads it, for the API, the portal and the admin.

PostgreSQL's text can neither hold U+0000 nor be compared with it: a view that filtered on such a parameter
failed with a 500 (DataError) where SQLite found nothing. The admin's change lists filter on any field the
query string names (`?region=%00`), the portal's credit pages look up `?epoch=` as given, and any new filter
could do the same; one check here covers them all. The API's filters refused it already, as
`validation_error`; it is now `hidden_character` there too, naming the parameter. No other character is
refused here: a query only looks text up, and nothing else breaks a lookup.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from consortium.api import problems
from consortium.errors import ValidationFailed
from consortium.text import refuse_nul


class NulInQueryStringMiddleware:
    """Answers 400 to a request whose query string holds a NUL in a parameter's name or value: a
    `hidden_character` problem naming the parameter on an /api/ path, a page saying so elsewhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            refuse_nul(**{name: "".join(values) for name, values in request.GET.lists()})
        except ValidationFailed as refused:
            if request.path.startswith("/api/"):
                return problems.api_refusal(request, refused)
            return render(request, "400_query_nul.html", {"detail": refused.detail}, status=400)
        return self.get_response(request)
