"""Root URL map: portal, REST API v1, OpenAPI schema and docs, health, Django admin."""

from csp.constants import SELF
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import RequestDataTooBig
from django.shortcuts import render
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView

from consortium.api import problems
from consortium.api.docs import RedocView, SwaggerView
from consortium.api.views import HealthView

Route = URLPattern | URLResolver
# The admin draws its icons from its static images: the site's policy, plus img-src 'self' on admin pages.
ADMIN_POLICY_UPDATE = {"img-src": [SELF]}


def _csp_updated(patterns: list[Route], update: dict[str, list[str]]) -> list[Route]:
    """`patterns` with every view under them wrapped in django-csp's csp_update(update)."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _csp_updated(pattern.url_patterns, update)
        else:
            pattern.callback = csp_update(update)(pattern.callback)
    return patterns


admin_patterns, admin_app_name, admin_namespace = admin.site.urls

api_v1 = [
    path("", include("consortium.api.urls")),
    path("ledger/", include("ledger.api.urls")),
    path("credit/", include("ledger.credit.api.urls")),
    path("", include("exchange.api.urls")),
]

urlpatterns = [
    path("admin/", (_csp_updated(admin_patterns, ADMIN_POLICY_UPDATE), admin_app_name, admin_namespace)),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    path("health/", HealthView.as_view(), name="health"),
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
    return defaults.bad_request(request, exception)


def handler404(request, exception):
    if request.path.startswith("/api/"):
        return problems.api_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return problems.api_server_error(request)
    return defaults.server_error(request)
