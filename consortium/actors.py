"""The signed-in user behind a request, as the `User` our services take for `actor`.

Shared by the portal and the API, so it lives outside `consortium.api`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.request import Request

from consortium.models import MemberRole, User


def request_actor(request: HttpRequest | Request) -> User:
    """The authenticated user making `request` (a person, or an API key's system user).

    Callers sit behind `login_required` (portal) or `IsAuthenticated` (API), so this never refuses a request
    they let through; an anonymous user here means a view lost its guard, and it raises PermissionDenied
    (403) rather than hand a service an AnonymousUser.
    """
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


def acting_api_key(actor: User) -> Any:
    """The API key `actor` acts through (a partner system's user, as the API's authentication left it), for
    the ledger entry's record of it; None for a person."""
    return getattr(actor, "api_key", None) if actor.member_role == MemberRole.SYSTEM else None
