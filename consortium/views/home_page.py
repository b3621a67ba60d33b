"""The home page (the user's member and role, what they may do, what waits for them) and the page for a
form Django's CSRF check refused."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware import csrf
from django.shortcuts import render
from django.urls import reverse

from consortium import navigation, selectors
from consortium.actors import request_actor
from consortium.models import MemberStatus
from consortium.roles import Capability, capabilities
from consortium.views._common import CAPABILITY_LABELS, _render


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The user's member and role, what they may do (each linked to its page), what waits for them (from
    the apps' registered sources) and the officer's queue of applications."""
    user = request_actor(request)
    caps = capabilities(user)
    pending = None
    if Capability.DECIDE_MEMBERSHIP in caps:
        pending = selectors.member_list_for(user=user).filter(status=MemberStatus.APPLIED).count()
    return _render(
        request,
        "home.html",
        {
            "member": user.member,
            "role": user.get_consortium_role_display() or user.get_member_role_display(),
            "capabilities": [
                (CAPABILITY_LABELS.get(cap, str(cap)), _page_of(cap, user)) for cap in sorted(caps)
            ],
            "waiting": navigation.waiting_for(user),
            "pending_applications": pending,
            "applied_status": MemberStatus.APPLIED,
        },
    )


def _page_of(capability: Capability, user: Any) -> str | None:
    """The URL of the page where `user` uses `capability`, None when it has none in the portal."""
    name = navigation.CAPABILITY_PAGES.get(capability)
    if name is None:
        return None
    if name in navigation.OWN_MEMBER_PAGES:
        return reverse(name, args=[user.member_id]) if user.member_id else None
    return reverse(name)


# Refusals of where a form came from (the Origin or Referer header), which reloading the page does not mend.
_ADDRESS_REFUSALS = tuple(
    reason.split(" - ")[0] for reason in (csrf.REASON_BAD_ORIGIN, csrf.REASON_BAD_REFERER)
)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the portal's page for a form Django's CSRF check refused. A missing or stale token
    (the page open too long, a sign-in in another tab, cookies off) asks for a reload; a form sent from an
    address the site does not trust says so, since a reload does not mend that. The check's own reason only
    with DEBUG, as on Django's page."""
    context = {
        "address_refused": reason.startswith(_ADDRESS_REFUSALS),
        "debug_reason": reason if settings.DEBUG else "",
    }
    return render(request, "403_csrf.html", context, status=403)
