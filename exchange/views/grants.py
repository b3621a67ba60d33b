"""Grants: the ones the user may see, one grant with its revocation, and a download under it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from consortium.actors import request_actor
from consortium.errors import NotFound, ServiceError
from consortium.paging import page_of, query_without_page
from consortium.roles import Capability, capabilities, reads_grants
from exchange import downloads, selectors, services
from exchange.forms import ReasonForm
from exchange.models import Grant
from exchange.views._common import _get, _refused, _render


@login_required
def grant_list(request: HttpRequest) -> HttpResponse:
    """Grants the user may see: their member's (received and given); every one for officers."""
    if not reads_grants(request.user):
        raise Http404
    grants = selectors.grant_list_for(user=request.user).order_by("-valid_from", "-id")
    return _render(
        request,
        "grant_list.html",
        {"page": page_of(request, grants), "query": query_without_page(request), "now": timezone.now()},
    )


def _grant_page(request: HttpRequest, grant: Grant, form: Any = None, status: int = 200) -> HttpResponse:
    now = timezone.now()
    may_revoke = services.grant_revocable_by(actor=request_actor(request), grant=grant, now=now)
    may_download = services.grant_downloadable_by(actor=request_actor(request), grant=grant, now=now)
    # said instead of a button whose download would be refused with these words
    no_version = services.grant_version_unavailable(grant=grant) if may_download else None
    user = request_actor(request)
    return _render(
        request,
        "grant_detail.html",
        {
            "grant": grant,
            "state": grant.state_at(now),
            "form": (form or ReasonForm()) if may_revoke else None,
            "may_download": may_download and no_version is None,
            "no_version": no_version,
            # the grantee's people who would download under it: told why they cannot, and what next
            "for_grantee": user.member_id == grant.grantee_id
            and Capability.REQUEST_ACCESS in capabilities(user),
        },
        status=status,
    )


@login_required
def grant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _grant_page(request, _get(selectors.grant_get_for, user=request.user, pk=pk))


@login_required
@require_POST
def grant_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner's steward or a consortium officer revokes the grant at once."""
    grant = _get(selectors.grant_get_for, user=request.user, pk=pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.grant_revoke(
                actor=request_actor(request), grant=grant, reason=form.cleaned_data["reason"]
            )
        except ServiceError as error:
            grant.refresh_from_db()
            revocable = services.grant_revocable_by(
                actor=request_actor(request), grant=grant, now=timezone.now()
            )
            if isinstance(error, NotFound) or revocable:
                _refused(form, error)
            else:  # revoked or ended meanwhile: the page has no form to show the refusal on
                messages.error(request, error.detail)
                return redirect("portal:grant-detail", pk=grant.pk)
        else:
            messages.success(request, f"Grant {grant.pk} is revoked.")
            return redirect("portal:grant-detail", pk=grant.pk)
    return _grant_page(request, grant, form, status=400)


@login_required
@require_POST
def grant_download(request: HttpRequest, pk: int) -> HttpResponse | StreamingHttpResponse:
    """Take one download under the grant and stream the file; a refusal comes back as a message."""
    grant = _get(selectors.grant_get_for, user=request.user, pk=pk)
    try:
        grant, version, _, handle = services.grant_download(actor=request_actor(request), grant=grant)
    except ServiceError as error:  # the grant itself is visible: every refusal is a message
        messages.error(request, error.detail)
        return redirect("portal:grant-detail", pk=grant.pk)
    return downloads.version_response(grant=grant, version=version, handle=handle)
