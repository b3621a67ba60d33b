"""A page for a portal address asked with a method it does not take (Django's 405 has an empty body)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template import loader


class MethodNotAllowedPageMiddleware:
    """Gives a portal 405 (a revoke or download address opened as a link, say) a page saying what the
    address is for; the API's 405s are problem bodies already and pass untouched, as does any 405 that
    has a body of its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 405 or response.content or request.path.startswith("/api/"):
            return response
        allowed = response.get("Allow", "")
        page = loader.render_to_string("405.html", {"allowed": allowed}, request=request)
        replaced = HttpResponse(page, status=405)
        replaced["Allow"] = allowed
        return replaced
