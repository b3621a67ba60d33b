"""The exceptions services raise; consortium.api.problems maps each to an RFC 9457 problem response.

Every error carries a stable machine-readable `code`. Interfaces never invent their own error shapes.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request the exchange refuses. Subclasses fix the HTTP status; `code` is stable for clients."""

    status = 400
    code = "invalid_request"
    title = "The request is invalid"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class ValidationFailed(ServiceError):
    """Input that breaks a rule; `errors` maps field names to messages where a field is to blame."""

    status = 400
    code = "validation_error"
    title = "The input is not valid"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: dict[str, list[str]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, code=code, **extra)
        if errors:
            self.extra["errors"] = errors


class NotPermitted(ServiceError):
    """The actor may see the object but may not do this to it."""

    status = 403
    code = "permission_denied"
    title = "You may not do this"


class NotFound(ServiceError):
    """The object does not exist, or the actor may not see it (we never leak which)."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(ServiceError):
    """The action does not fit the object's current state (e.g. an illegal lifecycle transition)."""

    status = 409
    code = "conflict"
    title = "The request conflicts with the current state"


class Unavailable(Exception):
    """Something the exchange needs cannot be used now (the ledger's signing key, say): not the request's
    fault, so the API answers 503 (try again later) and an operator's command exits naming it. The message
    is for operators and is never sent to a client: it may name a file, a host or a setting."""
