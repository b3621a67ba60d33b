"""Refuses a query string holding a NUL, or more parameters than Django parses, before any view reads it:
for the API, the portal and the admin.

PostgreSQL's text can neither hold U+0000 nor be compared with it: a view that filtered on such a parameter
failed with a 500 (DataError) where SQLite found nothing. The admin's change lists filter on any field the
query string names (`?region=%00`), the portal's credit pages look up `?epoch=` as given, and any new filter
could do the same; one check here covers them all. The API's filters refused it already, as
`validation_error`; it is now `hidden_character` there too, naming the parameter. No other character is
refused here: a query only looks text up, and nothing else breaks a lookup.

A query string with more parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS is refused here too, in its own words
(Django's refusal spoke of a form body), and its parameters dropped from the request: Django's error page
(with DEBUG on) and log handlers read them again, and failed on the second reading, so the server answered
"A server error occurred".
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from consortium.api import problems
from consortium.errors import ValidationFailed
from consortium.text import refuse_nul


class QueryStringCheckMiddleware:
    """Answers 400 to a request whose query string holds a NUL in a parameter's name or value (a
    `hidden_character` problem naming the parameter on an /api/ path, a page saying so elsewhere), or more
    parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS (`too_many_fields`, or a page)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            parameters = request.GET
        except TooManyFieldsSent as too_many:
            return _too_many_parameters(request, too_many)
        try:
            refuse_nul(**{name: "".join(values) for name, values in parameters.lists()})
        except ValidationFailed as refused:
            if request.path.startswith("/api/"):
                return problems.api_refusal(request, refused)
            return render(request, "400_query_nul.html", {"detail": refused.detail}, status=400)
        return self.get_response(request)


def _too_many_parameters(request: HttpRequest, too_many: TooManyFieldsSent) -> HttpResponse:
    """400 for a query string past DATA_UPLOAD_MAX_NUMBER_FIELDS, logged as Django logs it."""
    request.GET = QueryDict()  # read again, it would raise again
    problems.log_suspicious(request, too_many, 400)
    if request.path.startswith("/api/"):
        return problems.api_query_too_long(request)
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    detail = f"The address has more than {limit} query parameters, more than any page takes."
    return render(request, "400.html", {"detail": detail}, status=400)
