"""Shared API convention: whether the caller may take a write action is settled before its input is read.

A caller that may not act learns that first, whatever it sent: an API key without the scope an action
needs gets 403 `insufficient_scope`, never 400 for a body it may not send anyway. So each viewset names,
for each action that writes, the service's own check of the actor (`action_checks`, e.g.
{"create": services.dataset_register_check}) and takes ActionChecks as its permission class, which DRF
runs before the handler reads the body or the query. The checks raise the services' own refusals, and
the services check again for every other caller (the portal, commands): one rule, asked twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rest_framework.exceptions import APIException
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated

from consortium.actors import request_actor
from consortium.errors import ServiceError

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

# check(actor) for an action on a collection, check(actor, obj) for one on an object; each raises a
# ServiceError (NotPermitted, NotFound) when the actor may not.
ActionCheck = Callable[..., None]


class Refused(APIException):
    """A service's refusal raised where DRF expects an APIException: in a permission check. DRF's own
    callers of permissions (the browsable API deciding which forms to show, OPTIONS) take only an
    APIException for "may not"; the problem handler counts the request against the caller's throttles (DRF
    checks them after the permissions) and answers with the service error it carries."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(error.detail)
        self.status_code = error.status
        self.error = error


class ActionChecks(IsAuthenticated):
    """IsAuthenticated, then for a write action the check its viewset names in `action_checks`.

    The object of a detail action is found with the view's get_object, as the handler finds it, so what the
    caller may not see is still a 404 (not found) before it is a 403."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not super().has_permission(request, view):
            return False
        checks: dict[str, ActionCheck] = getattr(view, "action_checks", {})
        check = checks.get(getattr(view, "action", None) or "")
        if check is None or request.method in SAFE_METHODS:
            return True
        actor = request_actor(request)
        try:
            if getattr(view, "detail", False):  # an action on one object
                assert isinstance(view, GenericAPIView)  # a viewset: only viewsets have detail actions
                check(actor, view.get_object())
            else:
                check(actor)
        except ServiceError as refusal:
            raise Refused(refusal) from refusal
        return True
