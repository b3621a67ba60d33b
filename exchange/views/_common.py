"""Pieces the exchange's pages share: rendering, the capabilities a page needs, a service's refusal on a
form, and a 404 for what the actor may not see."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from consortium.actors import request_actor
from consortium.errors import NotFound, NotPermitted, ServiceError
from consortium.forms import add_service_error
from consortium.roles import Capability, capabilities, member_not_active_refusal, reads_as_holder


def _render(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    return render(request, f"exchange/{template}", context or {}, status=status)


def _require(request: HttpRequest, *wanted: Capability) -> frozenset[Capability]:
    """The user's capabilities; 404 unless they hold at least one of `wanted`."""
    caps = capabilities(request.user)
    if not caps & set(wanted):
        raise Http404
    return caps


def _require_reading(request: HttpRequest, *wanted: Capability) -> None:
    """404 unless the user holds one of `wanted`, or would but for its member's status: the people of a
    member that is not active open their member's own pages read-only (roles.reads_as_holder; the
    selectors show them only their member's records)."""
    if not any(reads_as_holder(request.user, capability) for capability in wanted):
        raise Http404


def _not_active_refusal(request: HttpRequest, capability: Capability) -> NotPermitted | None:
    """The member_not_active refusal, put in the page's messages, when only the user's member's status
    withholds `capability`; None otherwise. A page open read-only to such a member's people asks it before
    it reads a posted form, as the API's action checks do before the body."""
    refusal = member_not_active_refusal(request_actor(request), capability)
    if refusal is not None:
        messages.error(request, refusal.detail)
    return refusal


def _refused(form: Any, error: ServiceError) -> None:
    """Put a service's refusal on `form`: the refusal and each of the engine's reasons beside the field
    the form's `refusal_fields` names for its code, the service's own field errors where it names them
    (unless the refusal's code has a field: its detail says more than "Must be 1."), the rest above."""
    if isinstance(error, NotFound):
        raise Http404(error.detail) from error
    on_field: dict[str, str] = getattr(form, "refusal_fields", {})
    said = [(reason["code"], reason["message"]) for reason in error.extra.get("reasons") or []]
    if error.detail not in {message for _, message in said}:
        said.insert(0, (error.code, error.detail))
    field_errors = error.extra.get("errors") or {}
    if field_errors and on_field.get(error.code) not in form.fields:
        add_service_error(form, error)
        placed = {text for texts in field_errors.values() for text in texts}
        said = [(code, message) for code, message in said if message not in placed]
    for code, message in said:
        field = on_field.get(code)
        form.add_error(field if field in form.fields else None, message)


def _get(getter: Any, **kwargs: Any) -> Any:
    try:
        return getter(**kwargs)
    except NotFound as error:
        raise Http404(error.detail) from error
