"""The API docs pages, drf-spectacular's Swagger UI and Redoc, each under the strictest Content-Security-
Policy it works under (checked in headless Chromium: the page renders, "Try it out" and Redoc's search work).

Both UIs are drf-spectacular-sidecar's static files on this origin: every script and stylesheet is 'self',
and each UI fetches the schema (Swagger UI also the API calls of "Try it out") from 'self'. Each page has
one inline script (the UI's settings and start-up) and one inline style, and Redoc's styled-components
insert <style> elements as it runs: a fresh nonce per response marks all of them, so neither policy needs
'unsafe-inline' or 'unsafe-eval'. Swagger UI's stylesheet draws its icons from data: URIs and its favicon is a
static file; Redoc draws from data: URIs and runs its search in a worker started from a blob: URL. Anything
else is refused: other hosts (Redoc's menu footer would load its logo from the vendor's CDN), plugins,
<base>, form targets, and framing (as X-Frame-Options: DENY says).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response

_REFUSE_THE_REST = "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
SWAGGER_POLICY = (
    "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
    f"img-src 'self' data:; connect-src 'self'; {_REFUSE_THE_REST}"
)
REDOC_POLICY = (
    "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
    f"img-src data:; connect-src 'self'; worker-src blob:; {_REFUSE_THE_REST}"
)


def _new_nonce() -> str:
    return secrets.token_urlsafe(18)


def _with_policy(response: Response, *, policy: str, nonce: str) -> Response:
    response.data["csp_nonce"] = nonce
    response["Content-Security-Policy"] = policy.format(nonce=nonce)
    return response


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI under SWAGGER_POLICY; its template puts the nonce on the inline script and style."""

    template_name = "consortium/api_docs/swagger_ui.html"

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return _with_policy(super().get(request, *args, **kwargs), policy=SWAGGER_POLICY, nonce=_new_nonce())


class RedocView(SpectacularRedocView):
    """Redoc under REDOC_POLICY; its template puts the nonce on the inline script and style, and Redoc's
    `nonce` option hands it to the <style> elements that styled-components inserts."""

    template_name = "consortium/api_docs/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        nonce = _new_nonce()
        # The bundle inserts perfect-scrollbar's stylesheet as it loads, before Redoc has the nonce, so the
        # policy blocks it; native scrollbars need no stylesheet.
        options = {**(spectacular_settings.REDOC_UI_SETTINGS or {}), "nativeScrollbars": True, "nonce": nonce}
        response.data["settings"] = json.dumps(options)
        return _with_policy(response, policy=REDOC_POLICY, nonce=nonce)
