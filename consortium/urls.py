"""Root URL map: portal, REST API v1, OpenAPI schema and docs, health, Django admin."""

import sys
from collections.abc import Callable

from csp.constants import SELF
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.template import loader
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView

from consortium.api import problems
from consortium.api.content_security import api_content_policy
from consortium.api.docs import RedocView, SwaggerView
from consortium.api.views import HealthView, LivenessView

Route = URLPattern | URLResolver
# The admin draws its icons from its static images: the site's policy, plus img-src 'self' on admin pages.
ADMIN_POLICY_UPDATE = {"img-src": [SELF]}


def _decorated(patterns: list[Route], decorator: Callable) -> list[Route]:
    """`patterns` with every view under them wrapped in `decorator` (one that sets the views' policy)."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _decorated(pattern.url_patterns, decorator)
        else:
            pattern.callback = decorator(pattern.callback)
    return patterns


admin_patterns, admin_app_name, admin_namespace = admin.site.urls

api_v1: list[Route] = [
    path("", include("consortium.api.urls")),
    path("ledger/", include("ledger.api.urls")),
    path("credit/", include("ledger.credit.api.urls")),
    path("", include("exchange.api.urls")),
]

urlpatterns = [
    path(
        "admin/",
        (_decorated(admin_patterns, csp_update(ADMIN_POLICY_UPDATE)), admin_app_name, admin_namespace),
    ),
    # Data under a policy that lets nothing load or run, the browsable API's page under its own.
    path("api/v1/", include(_decorated(api_v1, api_content_policy))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    # Readiness (load balancers) and liveness (process supervisors): README, "Health checks".
    path("health/", HealthView.as_view(), name="health"),
    path("health/live/", LivenessView.as_view(), name="health-live"),
    # Any other /api/ path is a problem body too, even with DEBUG on (Django's debug 404 page is HTML).
    re_path(r"^api/", problems.api_not_found),
    path("", include("consortium.portal_urls")),
]


def handler400(request, exception):
    if request.path.startswith("/api/"):
        return problems.api_bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return render(request, "413.html", {"limit_bytes": limit}, status=413)
    # Django refuses some requests before the middleware that sets the user and the CSP nonce has run (a Host
    # not allowed): the page then renders without the request, as Django's own 400 page does.
    page = loader.get_template("400.html").render(request=request if hasattr(request, "user") else None)
    return HttpResponseBadRequest(page)


def handler404(request, exception):
    if request.path.startswith("/api/"):
        return problems.api_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request):
    # Django calls this while it handles the exception: an outage (the database or broker down, the signing
    # key unavailable) is a 503 to retry, not a 500. The page asks nothing of the database (no context
    # processors, no base template), like Django's own 500 page.
    if problems.is_outage(sys.exc_info()[1]):
        if request.path.startswith("/api/"):
            return problems.api_unavailable(request)
        page = loader.get_template("503.html").render({"retry_after": problems.OUTAGE_RETRY_AFTER_SECONDS})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(problems.OUTAGE_RETRY_AFTER_SECONDS)
        return response
    if request.path.startswith("/api/"):
        return problems.api_server_error(request)
    return defaults.server_error(request)
