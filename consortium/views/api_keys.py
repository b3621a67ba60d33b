"""API keys: the member's keys, creating one (its secret shown once) and revoking one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST

from consortium import selectors, sent_forms, services
from consortium.actors import request_actor
from consortium.errors import NotFound, ServiceError
from consortium.forms import APIKeyCreateForm, submitted
from consortium.models import MemberAPIKey
from consortium.paging import page_number, page_of, query_without_page
from consortium.roles import Capability, can
from consortium.text import bdi
from consortium.views._common import _refused, _render


def _require_key_admin(request: HttpRequest) -> None:
    if not can(request.user, Capability.MANAGE_API_KEYS):
        raise Http404


def _api_keys(request: HttpRequest) -> QuerySet[MemberAPIKey]:
    return selectors.api_key_list_for(user=request.user).order_by("-created", "-pk")


@login_required
def api_key_list(request: HttpRequest) -> HttpResponse:
    """The member's API keys: names, prefixes, scopes and dates; never a secret."""
    _require_key_admin(request)
    return _render(
        request,
        "api_key_list.html",
        {"page": page_of(request, _api_keys(request)), "query": query_without_page(request)},
    )


def _api_key_list_at(request: HttpRequest) -> str:
    """The key list at the page the form was sent from (its `page` field), or at the last page if that one
    is gone by now (page_number); the first for a value that is no whole number. Only our own path and a
    number: no address from the request is followed."""
    number = page_number(_api_keys(request), request.POST.get("page"))
    listing = reverse("portal:api-key-list")
    return listing if number == 1 else f"{listing}?page={number}"


@login_required
@require_http_methods(["GET", "POST"])
def api_key_create(request: HttpRequest) -> HttpResponse:
    """Creates a key and shows its secret in this one response; it is stored only hashed. The same form
    sent again (that page reloaded, the back button, a double click) creates no second key (sent_forms):
    it says which key it created, whose secret was shown then."""
    _require_key_admin(request)
    form = APIKeyCreateForm(submitted(request))
    if request.method == "POST" and form.is_valid():
        try:
            once = sent_forms.make_once(
                request,
                "api-key-create",
                lambda: services.api_key_create(actor=request_actor(request), **form.service_kwargs()),
                made_id=lambda created: created[0].prefix,
            )
            made, earlier = once
        except ServiceError as error:
            _refused(form, error)
        else:
            if made is None:
                assert earlier is not None
                return _created_before(request, prefix=earlier)
            key, raw_key = made
            # Rendered, not redirected: the secret is in no URL, session or cache, and gone after this page.
            response = _render(request, "api_key_created.html", {"key": key, "raw_key": raw_key})
            add_never_cache_headers(response)
            return response
    return _render(
        request,
        "api_key_form.html",
        {"form": form, "sending": sent_forms.sending_token(request)},
        status=400 if form.errors else 200,
    )


def _created_before(request: HttpRequest, *, prefix: str) -> HttpResponse:
    """The answer to a create form sent again: the key it created (its secret was shown once, then), on the
    key list; or, while its first sending is still creating it (sent_forms.IN_FLIGHT), that it will be
    there."""
    if prefix == sent_forms.IN_FLIGHT:
        messages.info(
            request,
            "This form is being sent already: the key it creates is listed here once created, and its secret "
            "shown only on that sending's page. No other key is created; without its secret, revoke it and "
            "create a new one.",
        )
        return redirect("portal:api-key-list")
    key = _api_keys(request).filter(prefix=prefix).first()
    created = (
        format_html("the key {} ({})", bdi(key.name), prefix) if key else format_html("a key ({})", prefix)
    )
    messages.info(
        request,
        format_html(
            "This form was sent already: it created {}, whose secret was shown once, then. No other key is "
            "created; without its secret, revoke it and create a new one.",
            created,
        ),
    )
    return redirect("portal:api-key-list")


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    """Revokes a key at once: partners' requests with it are refused from now on. Back to the list's page
    the form was on."""
    _require_key_admin(request)
    try:
        key = selectors.api_key_get_for(user=request.user, prefix=prefix)
        services.api_key_revoke(actor=request_actor(request), key=key)
    except NotFound as error:
        raise Http404(error.detail) from error
    except ServiceError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, format_html("The key '{}' ({}) is revoked.", bdi(key.name), key.prefix))
    return redirect(_api_key_list_at(request))
