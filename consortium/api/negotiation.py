"""Content negotiation for API actions that answer with a file of its own media type, not a rendered body."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


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
