"""Shared API convention: every viewset hands its selectors and services the caller's API key (or None)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from consortium.models import MemberAPIKey

if TYPE_CHECKING:
    from rest_framework.views import APIView

    # Tells mypy the mixin only ever sits on a DRF view (so `self.request` is DRF's Request); at run time
    # it stays a plain mixin and the view classes' MRO is unchanged.
    _ViewBase = APIView
else:
    _ViewBase = object


class APIKeyMixin(_ViewBase):
    """`self.api_key`: the MemberAPIKey the request authenticated with, None for a portal session."""

    @property
    def api_key(self) -> MemberAPIKey | None:
        auth = getattr(self.request, "auth", None)
        return auth if isinstance(auth, MemberAPIKey) else None
