"""The OpenAPI schema documents the problem responses (RFC 9457) every operation can give, not only success.

drf-spectacular lists the success response alone, so a client generated from the schema, or a fuzzer checking
answers against it, met every refusal as undocumented. ProblemAutoSchema adds the error statuses an operation
can answer, each with the one `Problem` body (consortium.api.problems), from what the operation is:

- 401 where it reads credentials (a bad key is refused even where none is needed);
- 403 and 404 where it needs more than AllowAny (a role, scope or CSRF check that refuses; what the caller
  may not see is not found, even a whole list such as the credit totals). A public operation (AllowAny:
  health, the clusters, the membership application) refuses nobody for who they are: it documents 403 only
  where a portal session's CSRF check applies (a POST), and 404 only for a path or a page;
- 400 where it takes query parameters or a body, or changes state (services refuse bad input with 400);
- 404 also where it names an object in its path or pages a list (a page past the end);
- 409 where it changes state (an illegal lifecycle transition, a duplicate);
- 413 where it takes a body (one past DATA_UPLOAD_MAX_MEMORY_SIZE, or an upload past its own limit);
- 415 where it takes a body (in another media type than its parsers read);
- 429 where it is throttled.

A status an operation documents itself with extend_schema(responses=...) is kept as it is.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny

from consortium.api.problems import PROBLEM_CONTENT_TYPE

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

_DESCRIPTIONS = {
    "400": "The input is not valid (`validation_error` lists the fields in `errors`) or cannot be parsed.",
    "401": "No credentials, or an API key or session that is not valid.",
    "403": "Authenticated, but the role, the key's scopes or the member's status do not allow this; or a "
    "portal session's write without its CSRF token (`csrf_failed`).",
    "404": "No such object, or none the caller may see; or a page past the last.",
    "409": "The object's current state does not allow this (`current_state` says which it is in).",
    "413": "The body is larger than the exchange accepts (`limit_bytes` says the limit).",
    "415": "The body is in a media type this operation does not take.",
    "429": "Too many requests; `retry_after_seconds` says when to try again.",
}
# Where anyone may call the operation, these are the only reasons for the two statuses.
_PUBLIC_DESCRIPTIONS = {
    "401": "An API key that is not valid (unknown, revoked, expired, or of a member that is not active). "
    "This operation needs no credentials, but refuses bad ones.",
    "403": "A signed-in portal session's request without its CSRF token (`csrf_failed`).",
}


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details; extension members (errors, current_state, ...) depend on the code."""

    type = serializers.CharField(help_text="urn:consortium-exchange:problem:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable machine-readable code.")
    instance = serializers.CharField(required=False, help_text="The path of the request.")
    # DRF's metaclass takes declared fields off the class: this hides no Serializer.errors at run time.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For invalid input: messages by field (`non_field_errors` where no field is to blame).",
    )


def error_statuses(
    operation: dict[str, Any],
    *,
    method: str,
    authenticates: bool,
    public: bool,
    checks_csrf: bool,
    throttled: bool,
) -> list[str]:
    """The error statuses an operation can answer, from its parameters, body, method and view: whether it
    reads credentials (`authenticates`), lets anyone call it (`public`: every permission is AllowAny) and
    checks a session's CSRF token on unsafe methods (`checks_csrf`)."""
    where = {parameter.get("in") for parameter in operation.get("parameters", [])}
    names = {parameter.get("name") for parameter in operation.get("parameters", [])}
    changes = method in _UNSAFE
    statuses = set()
    if authenticates:
        statuses.add("401")
        if not public:
            statuses |= {"403", "404"}
        elif checks_csrf and changes:
            statuses.add("403")
    if "query" in where or "requestBody" in operation or changes:
        statuses.add("400")
    if "path" in where or "page" in names:
        statuses.add("404")
    if changes:
        statuses.add("409")
    if "requestBody" in operation:
        statuses |= {"413", "415"}
    if throttled:
        statuses.add("429")
    return sorted(statuses)


class ProblemAutoSchema(AutoSchema):
    """AutoSchema that documents each operation's problem responses (see the module docstring)."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        authenticators = self.view.get_authenticators()
        public = all(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        statuses = error_statuses(
            operation,
            method=self.method,
            authenticates=bool(authenticators),
            public=public,
            checks_csrf=any(isinstance(each, SessionAuthentication) for each in authenticators),
            throttled=bool(self.view.get_throttles()),
        )
        if not statuses:
            return operation
        problem = self.resolve_serializer(ProblemSerializer, "response").ref
        descriptions = {**_DESCRIPTIONS, **_PUBLIC_DESCRIPTIONS} if public else _DESCRIPTIONS
        responses = operation["responses"]
        for status in statuses:
            responses.setdefault(
                status,
                {
                    "description": descriptions[status],
                    "content": {PROBLEM_CONTENT_TYPE: {"schema": problem}},
                },
            )
        return operation
