"""Pieces the portal's pages share: rendering, a service's refusal on a form, the throttle of the public
forms, and the capabilities in the home page's words."""

from __future__ import annotations

import math
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.throttling import SimpleRateThrottle

from consortium.errors import NotFound, ServiceError
from consortium.forms import add_service_error
from consortium.models import MemberRole
from consortium.roles import ROLE_CAPABILITIES, Capability

CAPABILITY_LABELS: dict[Capability, str] = {
    Capability.VIEW_OWN_MEMBER: "See your member's record",
    Capability.EDIT_OWN_MEMBER: "Declare your member's parent or controlling entity",
    Capability.EDIT_OWN_CONTACT: "Edit your member's contact details",
    Capability.VIEW_OWN_USERS: "See your member's people",
    Capability.MANAGE_OWN_USERS: "Manage your member's people",
    Capability.MANAGE_API_KEYS: "Manage API keys",
    Capability.BROWSE_CATALOG: "Browse the dataset catalog",
    Capability.REQUEST_ACCESS: "Request access to datasets",
    Capability.MANAGE_DATASETS: "Register and manage datasets",
    Capability.DECIDE_REQUESTS: "Decide access requests",
    Capability.VIEW_ALL_MEMBERS: "See every member",
    Capability.VIEW_ALL_USERS: "See every user; manage every member's people",
    Capability.DECIDE_MEMBERSHIP: "Admit, suspend and withdraw members",
    Capability.DECIDE_CONFIDENTIAL: "Decide confidential-tier requests",
    Capability.AUDIT: "Audit the ledger and credit",
    Capability.REVOKE_ANY_GRANT: "Revoke any grant",
    Capability.RESOLVE_HELD_MINTS: "Release or forfeit held mints",
}


def _role_help() -> str:
    """What each role a member's person may hold allows, in the home page's words, read off
    roles.ROLE_CAPABILITIES: what every role may, then each role's own (analyst, steward, admin)."""
    order = [MemberRole.ANALYST, MemberRole.STEWARD, MemberRole.ADMIN]
    common = frozenset.intersection(*(ROLE_CAPABILITIES[role] for role in order))

    def words(caps: frozenset[Capability]) -> str:
        shown = sorted(caps - ({Capability.VIEW_OWN_USERS} if Capability.MANAGE_OWN_USERS in caps else set()))
        return "; ".join(CAPABILITY_LABELS[cap][0].lower() + CAPABILITY_LABELS[cap][1:] for cap in shown)

    own = [
        f"{MemberRole(role).label}, also: {words(ROLE_CAPABILITIES[role] - common)}."
        if ROLE_CAPABILITIES[role] - common
        else f"{MemberRole(role).label}: nothing more."
        for role in order
    ]
    return " ".join([f"Every role may {words(common)}.", *own])


def _render(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    return render(request, f"consortium/{template}", context or {}, status=status)


def _refused(form: Any, error: ServiceError) -> None:
    """Put a service's refusal on the form; an invisible object is a 404, as in the API."""
    if isinstance(error, NotFound):
        raise Http404(error.detail) from error
    add_service_error(form, error)


class ApplicationThrottle(SimpleRateThrottle):
    """The API's `member_apply` rate and budget, shared: the public form is no way around the API's limit."""

    scope = "member_apply"

    def get_cache_key(self, request: Any, view: Any) -> str:
        # The same key as DRF's ScopedRateThrottle on the API's apply endpoint.
        ident = request.user.pk if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_portal_request(self, request: HttpRequest) -> bool:
        """`allow_request` for the portal's form, which has no DRF Request and no APIView."""
        # DRF types the request as its own Request, but the throttle reads only META and user, which a
        # plain HttpRequest has too; `view` is unused by SimpleRateThrottle.
        return self.allow_request(request, None)  # type: ignore[arg-type]


def _throttled(
    request: HttpRequest, throttle: ApplicationThrottle, form: Any, *, what: str, clear: bool = False
) -> bool:
    """Count `request` against `throttle` (a public form's budget per client). Over the budget: put on
    `form` the message saying how many seconds to wait (only that one, with `clear`) and return True; the
    caller answers with the form and status 429 (no Retry-After: the page says it)."""
    if throttle.allow_portal_request(request):
        return False
    wait = math.ceil(throttle.wait() or 1)
    if clear:
        form.errors.clear()
    form.add_error(None, f"Too many {what} from here. Please try again in {wait} seconds.")
    return True
