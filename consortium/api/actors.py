"""Shared API convention: every viewset hands its selectors and services the caller's API key (or None)."""

from __future__ import annotations

from rest_framework.request import Request

from consortium.models import MemberAPIKey


class APIKeyMixin:
    """`self.api_key`: the MemberAPIKey the request authenticated with, None for a portal session."""

    request: Request

    @property
    def api_key(self) -> MemberAPIKey | None:
        auth = getattr(self.request, "auth", None)
        return auth if isinstance(auth, MemberAPIKey) else None
