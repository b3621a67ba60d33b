"""Content negotiation for the API: an unknown `?format=` is a problem that names what exists, and actions
that answer with a file of its own media type never refuse for what the client accepts."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import Http404
from django.urls import Resolver404, resolve
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from consortium.errors import NotFound


class APIContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, except for a `?format=` that names none of the endpoint's renderers: DRF answers
    it with a bare 404 "Not found.", which told a partner asking a statement for `?format=csv` that the
    statement did not exist. The answer is still 404 (that representation does not exist here), as the
    problem `unknown_format`: the formats the endpoint has and, where a sibling path serves that format
    (`.../csv/`), `suggested_path`."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        asked = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        offered = list(dict.fromkeys(renderer.format for renderer in renderers))  # each once, in order
        if asked and asked not in offered:
            raise _unknown_format(request, asked, offered)
        return super().select_renderer(request, renderers, format_suffix)


def _unknown_format(request: Request, asked: str, offered: list[str]) -> NotFound:
    sibling = _file_path_for(request, asked)
    where = f" The {asked} is at {sibling}." if sibling else ""
    extra = {"suggested_path": sibling} if sibling else {}
    return NotFound(
        f"This endpoint has no '{asked}' format; it answers in {', '.join(offered)} "
        f"(without format: {offered[0]}).{where}",
        code="unknown_format",
        formats=offered,
        **extra,
    )


def _file_path_for(request: Request, asked: str) -> str:
    """The path below this one that serves the format as a file (`statements/2026-11/csv/`: a GET action
    of that name answering with its own file), with the query but `format`; else ""."""
    path = request.path_info  # Request hands what it lacks to its HttpRequest
    if not path.endswith("/") or not asked.isalnum():
        return ""
    try:
        match = resolve(f"{path}{asked}/", getattr(request, "urlconf", None))
    except Resolver404:
        return ""
    # A viewset action's view knows its methods' actions and the action's own options; any other route
    # (an object's detail taking the format for an id, a POST-only action, the API's catch-all) is none.
    actions = getattr(match.func, "actions", None) or {}
    options = getattr(match.func, "initkwargs", None) or {}
    if actions.get("get") != asked or options.get("content_negotiation_class") is not FileContentNegotiation:
        return ""
    query = request.query_params.copy()
    query.pop("format", None)
    encoded = query.urlencode()
    return f"{request.path}{asked}/" + (f"?{encoded}" if encoded else "")


class FileContentNegotiation(DefaultContentNegotiation):
    """Never refuses a request for its Accept header: the answer is a file, whose type is what it is.

    DRF picks one of the view's renderers (JSON, the browsable API) by Accept before the view runs, and
    answers 406 when none matches. A file download renders nothing: the view streams the file as its own
    media type. So a partner's client sending the file's type (`Accept: text/csv`) or
    `application/octet-stream`, as HTTP clients commonly do for a file, was refused the file. RFC 9110
    (12.5.1) lets a server disregard Accept instead of answering 406, and here it must. Where nothing
    matches, the view's first renderer stands in; it renders only what is not the file, the refusals, and
    those go out as problem+json whatever was negotiated (consortium.api.problems). A `?format=` naming
    none of the renderers (`?format=csv`) is disregarded the same way: DRF answers it with 404, which
    told a partner that a grant it holds did not exist.
    """

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        try:
            chosen: tuple[BaseRenderer, str] = super().select_renderer(request, renderers, format_suffix)
        except (NotAcceptable, Http404):
            return renderers[0], renderers[0].media_type
        return chosen
