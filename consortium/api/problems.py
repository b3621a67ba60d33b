"""One error body everywhere: RFC 9457 problem details (application/problem+json) with a stable `code`."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.log import log_response
from django.views.decorators.csrf import csrf_exempt
from kombu.exceptions import OperationalError as BrokerUnavailable
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from consortium.api.content_security import api_content_policy
from consortium.api.permissions import Refused
from consortium.api.throttling import count_refusal
from consortium.errors import ServiceError, Unavailable

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:consortium-exchange:problem:"

_DRF_CODES = {
    exceptions.ParseError: ("malformed_request", "The request body could not be parsed"),
    exceptions.AuthenticationFailed: ("authentication_failed", "Authentication failed"),
    exceptions.NotAuthenticated: ("not_authenticated", "Authentication is required"),
    exceptions.PermissionDenied: ("permission_denied", "You may not do this"),
    exceptions.NotFound: ("not_found", "Not found"),
    exceptions.MethodNotAllowed: ("method_not_allowed", "Method not allowed"),
    exceptions.NotAcceptable: ("not_acceptable", "Not acceptable"),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "Unsupported media type"),
    exceptions.Throttled: ("throttled", "Too many requests"),
    exceptions.ValidationError: ("validation_error", "The input is not valid"),
}


class ProblemJSONRenderer(JSONRenderer):
    """Renders every problem body, whatever renderer the request negotiated."""

    media_type = PROBLEM_CONTENT_TYPE


def _render_as_problem(context: dict[str, Any]) -> None:
    """Make DRF render the error response with ProblemJSONRenderer.

    APIView.finalize_response renders with the request's negotiated renderer: for a browser (Accept:
    text/html, or ?format=api) that is the browsable API, whose HTML page then went out labelled
    application/problem+json. A client reads errors by their code, so an error is JSON for everyone; the
    browsable API stays for answers that succeed.
    """
    request = context.get("request")
    if request is not None:
        request.accepted_renderer = ProblemJSONRenderer()
        request.accepted_media_type = PROBLEM_CONTENT_TYPE


def problem(
    *, status_code: int, code: str, title: str, detail: str, instance: str = "", **extra: Any
) -> dict[str, Any]:
    """Build a problem-details body; extension members (errors, current_state, ...) go in `extra`."""
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def _flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field.sub": [messages]}; non-field errors under "non_field_errors"."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(item, dict) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(message) for message in messages]}


def _first_message(errors: dict[str, list[str]]) -> str:
    field, messages = next(iter(errors.items()))
    return messages[0] if field == "non_field_errors" else f"{field}: {messages[0]}"


# What Django counts in a form body, the code of a body with too many, and the setting that limits them.
_FORM_LIMITS = {
    TooManyFieldsSent: ("too_many_fields", "fields", "DATA_UPLOAD_MAX_NUMBER_FIELDS"),
    TooManyFilesSent: ("too_many_files", "files", "DATA_UPLOAD_MAX_NUMBER_FILES"),
}


def request_refusal(exc: SuspiciousOperation) -> dict[str, Any]:
    """The problem members (status_code, code, title, detail and extensions) for a request Django's parsing
    refuses: a body past DATA_UPLOAD_MAX_MEMORY_SIZE (413, with the limit), a form past the number of
    fields or files it may carry (400), any other SuspiciousOperation (400, as Django answers it)."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return {
            "status_code": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            "code": "payload_too_large",
            "title": "The request body is too large",
            "detail": f"The request body is larger than the limit of {limit} bytes. Files uploaded as "
            "multipart/form-data do not count towards it; they have their own limit.",
            "limit_bytes": limit,
        }
    for klass, (code, things, setting) in _FORM_LIMITS.items():
        if isinstance(exc, klass):
            limit = getattr(settings, setting)
            return {
                "status_code": status.HTTP_400_BAD_REQUEST,
                "code": code,
                "title": f"The form has too many {things}",
                "detail": f"The body has more than {limit} {things}.",
                "limit": limit,
            }
    return {
        "status_code": status.HTTP_400_BAD_REQUEST,
        "code": "bad_request",
        "title": "The request is refused",
        "detail": "The request cannot be processed as sent.",
    }


def log_suspicious(request: HttpRequest | None, exc: SuspiciousOperation, status_code: int) -> None:
    """Log `exc` as Django's handler does for every SuspiciousOperation it answers (django.security.<class>,
    which operators alert on): answered here, Django never sees it. Like Django, mark a body that could not
    be parsed as such first, so a log handler reading request.POST does not raise the error again. The
    level is Django's; settings.LOGGING lowers a body too large (413) to WARNING, Django's own log of it too
    (consortium.log_filters.ClientError)."""
    if request is not None and isinstance(exc, (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)):
        request._mark_post_parse_error()  # type: ignore[attr-defined]  # Django's own call; not in the stubs
    logging.getLogger(f"django.security.{type(exc).__name__}").error(
        str(exc), exc_info=exc, extra={"status_code": status_code, "request": request}
    )


# What a request meets when something the exchange depends on is down, not anything the request did: the
# database (lost, restarting, refusing connections: Django's OperationalError and InterfaceError; also a
# deadlock or statement timeout, which a retry may get past too), the broker when a task is queued (kombu's
# OperationalError), the ledger's signing key (consortium.errors.Unavailable).
OUTAGES = (OperationalError, InterfaceError, BrokerUnavailable, Unavailable)
OUTAGE_RETRY_AFTER_SECONDS = 30


def is_outage(exc: BaseException | None) -> bool:
    """Whether `exc` means the exchange cannot serve for now (OUTAGES), not a fault of the request's."""
    return isinstance(exc, OUTAGES)


def outage_refusal() -> dict[str, Any]:
    """The problem members for a request that an outage stopped (503). Says nothing of which dependency
    failed or why: that is logged. Whatever the request had not committed is not written (a service's state
    change and its ledger entry share one transaction), so the client may send it again after the wait."""
    return {
        "status_code": status.HTTP_503_SERVICE_UNAVAILABLE,
        "code": "service_unavailable",
        "title": "The service is unavailable",
        "detail": "The exchange cannot serve this request for the moment; nothing it asked for was done "
        f"unless a later read shows it was. Try again in {OUTAGE_RETRY_AFTER_SECONDS} seconds.",
        "retry_after_seconds": OUTAGE_RETRY_AFTER_SECONDS,
    }


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every refusal becomes a problem body; unknown errors stay 500s for Sentry."""
    request = context.get("request")
    instance = request.get_full_path() if request is not None else ""
    if isinstance(exc, Refused):
        # Refused comes only from a permission check, which DRF runs before the throttles.
        view = context.get("view")
        over_rate = count_refusal(request, view) if request is not None and view is not None else None
        if over_rate is not None:
            return problem_exception_handler(over_rate, context)
        exc = exc.error
    if isinstance(exc, ServiceError):
        body = problem(
            status_code=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            instance=instance,
            **exc.extra,
        )
        _render_as_problem(context)
        refused = Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)
        if "retry_after_seconds" in exc.extra:  # as DRF's throttles do
            refused["Retry-After"] = str(exc.extra["retry_after_seconds"])
        return refused
    if is_outage(exc):
        # Django would answer 500 once DRF re-raised it; logged here as Django logs what it answers.
        set_rollback()
        body = problem(instance=instance, **outage_refusal())
        _render_as_problem(context)
        unavailable = Response(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)
        unavailable["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
        django_request = getattr(request, "_request", request)
        log_response(
            "Service Unavailable: %s",
            getattr(django_request, "path", instance),
            response=unavailable,
            request=django_request,
            exception=exc,
        )
        return unavailable
    if isinstance(exc, SuspiciousOperation):
        # Django would answer these with its 400 page (a traceback with DEBUG on) once DRF re-raised them.
        body = problem(instance=instance, **request_refusal(exc))
        log_suspicious(getattr(request, "_request", request), exc, body["status"])
        _render_as_problem(context)
        return Response(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    code, title = next(
        (value for klass, value in _DRF_CODES.items() if isinstance(exc, klass)), ("error", "Request failed")
    )
    extra: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        extra["errors"] = _flatten_errors(exc.detail)
        detail = _first_message(extra["errors"])
    else:
        detail = str(exc.detail)
        specific = exc.get_codes()
        if isinstance(specific, str) and specific not in {"error", exc.default_code}:
            code = specific
    if isinstance(exc, exceptions.Throttled):
        # Throttled.__init__ sets `wait` (seconds, or None); drf-stubs 3.18 do not declare the attribute.
        wait: float | None = exc.wait  # type: ignore[attr-defined]
        if wait is not None:
            extra["retry_after_seconds"] = int(wait)
    body = problem(
        status_code=response.status_code, code=code, title=title, detail=detail, instance=instance, **extra
    )
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    _render_as_problem(context)
    return response


def _plain_problem(request: HttpRequest, *, status_code: int, **members: Any) -> JsonResponse:
    """A problem response outside DRF's views (no negotiation: always JSON)."""
    return JsonResponse(
        problem(status_code=status_code, instance=request.get_full_path(), **members),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


# Exempt, like DRF's views: otherwise CsrfViewMiddleware answers a POST to an unknown path with its HTML 403
# page before this view runs. Nothing here reads the session or changes state.
@api_content_policy
@csrf_exempt
def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 for an /api/ path that matches no route, whatever the method; where the path with a trailing slash
    has a route, the detail and `suggested_path` name it."""
    suggestion = _with_trailing_slash(request)
    extra = {"suggested_path": suggestion} if suggestion else {}
    return _plain_problem(
        request,
        status_code=status.HTTP_404_NOT_FOUND,
        code="not_found",
        title="Not found",
        detail=f"No such API endpoint. API paths end with a slash: {suggestion}"
        if suggestion
        else "No such API endpoint.",
        **extra,
    )


def _with_trailing_slash(request: HttpRequest) -> str:
    """The request's path and query with a slash after the path, if that path has an API route; else "".

    APPEND_SLASH never redirects an /api/ path: the catch-all route below the API's matches it first. Nor
    should it: a client that follows the redirect would send its POST again as a GET, without the body.
    """
    if request.path_info.endswith("/"):
        return ""
    try:
        match = resolve(request.path_info + "/", getattr(request, "urlconf", None))
    except Resolver404:
        return ""
    if match.func is api_not_found:
        return ""
    query = request.META.get("QUERY_STRING", "")
    return request.path + "/" + (f"?{query}" if query else "")


@api_content_policy
def api_bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    """400 (413 for a body too large) for an /api/ path that Django refused before any API view ran."""
    suspicious = exception if isinstance(exception, SuspiciousOperation) else SuspiciousOperation()
    return _plain_problem(request, **request_refusal(suspicious))


@api_content_policy
def api_query_too_long(request: HttpRequest) -> JsonResponse:
    """400 too_many_fields for an /api/ path whose query string has more than DATA_UPLOAD_MAX_NUMBER_FIELDS
    parameters (Django's refusal speaks of a form body)."""
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    return _plain_problem(
        request,
        status_code=status.HTTP_400_BAD_REQUEST,
        code="too_many_fields",
        title="The query string has too many parameters",
        detail=f"The query string has more than {limit} parameters.",
        limit=limit,
    )


@api_content_policy
def api_refusal(request: HttpRequest, refused: ServiceError) -> JsonResponse:
    """A service's refusal for an /api/ path, answered before any API view ran (a middleware's check)."""
    return _plain_problem(
        request,
        status_code=refused.status,
        code=refused.code,
        title=refused.title,
        detail=refused.detail,
        **refused.extra,
    )


@api_content_policy
def api_unavailable(request: HttpRequest) -> JsonResponse:
    """503 for an /api/ path that an outage stopped outside DRF's views (a middleware's query, say)."""
    response = _plain_problem(request, **outage_refusal())
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
    return response


@api_content_policy
def api_server_error(request: HttpRequest) -> JsonResponse:
    """500 for an /api/ path: still a problem body, never a traceback."""
    return _plain_problem(
        request,
        status_code=500,
        code="server_error",
        title="Internal server error",
        detail="The server failed; the error has been logged.",
    )
