"""One error body everywhere: RFC 9457 problem details (application/problem+json) with a stable `code`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from consortium.errors import ServiceError

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


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every refusal becomes a problem body; unknown errors stay 500s for Sentry."""
    request = context.get("request")
    instance = request.get_full_path() if request is not None else ""
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
        return Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)
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


def _plain_problem(
    request: HttpRequest, status_code: int, code: str, title: str, detail: str
) -> JsonResponse:
    return JsonResponse(
        problem(
            status_code=status_code, code=code, title=title, detail=detail, instance=request.get_full_path()
        ),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


# Exempt, like DRF's views: otherwise CsrfViewMiddleware answers a POST to an unknown path with its HTML 403
# page before this view runs. Nothing here reads the session or changes state.
@csrf_exempt
def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 for an /api/ path that matches no route, whatever the method."""
    return _plain_problem(
        request, status.HTTP_404_NOT_FOUND, "not_found", "Not found", "No such API endpoint."
    )


def api_server_error(request: HttpRequest) -> JsonResponse:
    """500 for an /api/ path: still a problem body, never a traceback."""
    return _plain_problem(
        request, 500, "server_error", "Internal server error", "The server failed; the error has been logged."
    )
