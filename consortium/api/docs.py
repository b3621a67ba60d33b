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
from typing import Any

from csp.constants import NONCE, NONE, SELF
from csp.decorators import csp
from django.utils.decorators import method_decorator
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response

# Each page's whole policy, in place of the site's (settings.CONTENT_SECURITY_POLICY); django-csp's middleware
# puts the request's nonce where NONCE stands.
_REFUSE_THE_REST = {"base-uri": [NONE], "form-action": [NONE], "frame-ancestors": [NONE]}
SWAGGER_POLICY = {
    "default-src": [NONE],
    "script-src": [SELF, NONCE],
    "style-src": [SELF, NONCE],
    "img-src": [SELF, "data:"],
    "connect-src": [SELF],
    **_REFUSE_THE_REST,
}
REDOC_POLICY = {
    "default-src": [NONE],
    "script-src": [SELF, NONCE],
    "style-src": [NONCE],
    "img-src": ["data:"],
    "connect-src": [SELF],
    "worker-src": ["blob:"],
    **_REFUSE_THE_REST,
}


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI under SWAGGER_POLICY; its template puts the nonce on the inline script and style."""

    template_name = "consortium/api_docs/swagger_ui.html"

    @extend_schema(exclude=True)
    @method_decorator(csp(SWAGGER_POLICY))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RedocView(SpectacularRedocView):
    """Redoc under REDOC_POLICY; its template puts the nonce on the inline script and style, and Redoc's
    `nonce` option hands it to the <style> elements that styled-components inserts."""

    template_name = "consortium/api_docs/redoc.html"

    @extend_schema(exclude=True)
    @method_decorator(csp(REDOC_POLICY))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        # The bundle inserts perfect-scrollbar's stylesheet as it loads, before Redoc has the nonce, so the
        # policy blocks it; native scrollbars need no stylesheet.
        options = {
            **(spectacular_settings.REDOC_UI_SETTINGS or {}),
            "nativeScrollbars": True,
            "nonce": str(request.csp_nonce),  # type: ignore[attr-defined]  # django-csp's middleware sets it
        }
        response.data["settings"] = json.dumps(options)
        return response
