"""The OpenAPI schema documents the problem responses (RFC 9457) every operation can give, not only success.

drf-spectacular lists the success response alone, so a client generated from the schema, or a fuzzer checking
answers against it, met every refusal as undocumented. ProblemAutoSchema adds the error statuses an operation
can answer, each with the one `Problem` body (consortium.api.problems), from what the operation is:

- 401 where it reads credentials (a bad key is refused even where none is needed);
- 403 and 404 where it needs more than AllowAny (a role, scope or CSRF check that refuses; what the caller
  may not see is not found, even a whole list such as the credit totals). A public operation (AllowAny:
  health, the clusters, the membership application) refuses nobody for who they are: it documents 403 only
  where a portal session's CSRF check applies (a POST), and 404 only for a path or a page;
- 400 where it takes query parameters or a body, or changes state (services refuse bad input with 400;
  a list refuses a `page_size`, `page` or `ordering` it does not take, consortium.api.pagination and
  consortium.api.filters.OrderingFilter);
- 404 also where it names an object in its path or pages a list (a page past the end);
- 406 where its answer is negotiated (an Accept header none of its renderers meets: DRF refuses it before
  anything else); not where it answers with a file (FileContentNegotiation disregards Accept);
- 409 where it changes state (an illegal lifecycle transition, a duplicate);
- 413 where it takes a body (one past DATA_UPLOAD_MAX_MEMORY_SIZE, or an upload past its own limit);
- 415 where it takes a body (in another media type than its parsers read);
- 429 where it is throttled.

A status an operation documents itself with extend_schema(responses=...) is kept as it is.

Each optional query parameter also says it may be empty (`allowEmptyValue`): an empty value is the parameter
not given, everywhere in the API (consortium.api.filters.FilterSet), as the browsable API's filter form sends
every field it does not fill; without it, OpenAPI 3.0 reads an empty value as one the API refuses.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny

from consortium.api.negotiation import FileContentNegotiation
from consortium.api.problem_codes import GROUPS, catalogue_table
from consortium.api.problems import PROBLEM_CONTENT_TYPE

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

_DESCRIPTIONS = {
    "400": "The input is not valid (`validation_error` lists the fields in `errors`) or cannot be parsed; "
    "for a list, also a `page_size`, `page` or `ordering` it does not take (`invalid_page_size`, "
    "`invalid_page`, `invalid_ordering`, naming the parameter in `errors`).",
    "401": "No credentials, or an API key or session that is not valid.",
    "403": "Authenticated, but the role, the key's scopes or the member's status do not allow this; or a "
    "portal session's write without its CSRF token (`csrf_failed`).",
    "404": "No such object, or none the caller may see; or a page past the last.",
    "406": "No representation this operation gives matches the Accept header (`not_acceptable`). Problems "
    "come as application/problem+json whatever it accepts.",
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


class ProblemReasonSerializer(serializers.Serializer):
    """One failing rule of an access decision."""

    code = serializers.CharField(help_text="A code of the catalogue (see the Problem's `code`).")
    message = serializers.CharField()


def _optional(field: type[serializers.Field], help_text: str, **kwargs: Any) -> serializers.Field:
    return field(required=False, help_text=help_text, **kwargs)


_CODE_HELP = (
    "Stable machine-readable code: branch on it, not on `detail`. The codes (docs/api-errors.md):\n\n"
    + "\n\n".join(f"**{title}**\n\n{catalogue_table(entries)}" for title, entries in GROUPS)
)


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details. The members after `instance` are extensions: each is present only with the
    codes that carry it (consortium/api/problem_codes.py says which)."""

    type = serializers.CharField(help_text="urn:consortium-exchange:problem:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField(help_text="For a person; its words may change.")
    code = serializers.CharField(help_text=_CODE_HELP)
    instance = _optional(serializers.CharField, "The path of the request.")
    # DRF's metaclass takes declared fields off the class: this hides no Serializer.errors at run time.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For invalid input: messages by field (`non_field_errors` where no field is to blame).",
    )
    reasons = ProblemReasonSerializer(
        many=True,
        required=False,
        help_text="Every rule an access decision failed, most fundamental first; `code` is the first's.",
    )
    current_state = _optional(serializers.CharField, "The state of the object that refused the change.")
    status_changed_at = _optional(
        serializers.DateTimeField, "When the member's status last changed (status_changed)."
    )
    retry_after_seconds = _optional(
        serializers.IntegerField,
        "When to try again, also in Retry-After (throttled, entry_not_sequenced, service_unavailable).",
    )
    accepted_at = _optional(serializers.CharField, "When the entry was accepted (entry_not_sequenced).")
    max_integration_delay_seconds = _optional(
        serializers.IntegerField, "The bound on an accepted entry's wait for its seq (entry_not_sequenced)."
    )
    limit_bytes = _optional(
        serializers.IntegerField, "The size limit passed (payload_too_large, upload_too_large)."
    )
    limit = _optional(serializers.IntegerField, "The count passed (too_many_fields, too_many_files).")
    files = _optional(serializers.IntegerField, "How many files the upload carried (one_file_only).")
    suggested_path = _optional(
        serializers.CharField,
        "The path with its trailing slash, where that has a route (not_found); the path that serves the "
        "format asked for, where one does (unknown_format).",
    )
    formats = _optional(
        serializers.ListField,
        "The formats the endpoint answers in (unknown_format).",
        child=serializers.CharField(),
    )
    required_scope = _optional(serializers.CharField, "The API key scope needed (insufficient_scope).")
    key_scopes = _optional(
        serializers.ListField, "The key's scopes (insufficient_scope).", child=serializers.CharField()
    )
    grant = _optional(serializers.IntegerField, "The grant concerned (already_granted, quota_exhausted).")
    request = _optional(serializers.IntegerField, "The undecided access request (duplicate_request).")
    version = _optional(
        serializers.IntegerField,
        "The number of the dataset's version with the same bytes (duplicate_version).",
    )
    terms_version = _optional(serializers.IntegerField, "The terms version in force.")
    accepted_terms_version = _optional(
        serializers.IntegerField, "The terms version the request accepted (terms_changed).", allow_null=True
    )
    price_credits = _optional(serializers.IntegerField, "The policy's price in force (terms_changed).")
    valid_from = _optional(serializers.DateTimeField, "When the grant starts (grant_not_started).")
    valid_until = _optional(serializers.DateTimeField, "When the grant ends or ended.")
    revoked_at = _optional(serializers.DateTimeField, "When the grant was revoked (grant_revoked).")
    revoked_reason = _optional(serializers.CharField, "Why the grant was revoked (grant_revoked).")
    shortfall_mcr = _optional(serializers.IntegerField, "How much credit is missing, in mCR.")
    fee_mcr = _optional(serializers.IntegerField, "The grant's fee, in mCR (insufficient_credit).")
    account = _optional(serializers.CharField, "The credit account short of credit (insufficient_credit).")
    epoch = _optional(serializers.CharField, "The credit epoch concerned (epoch_exists).")
    seq = _optional(serializers.IntegerField, "The entry's seq (entry_not_in_tree).")
    tree_size = _optional(serializers.IntegerField, "The tree size asked for (entry_not_in_tree).")
    current_tree_size = _optional(serializers.IntegerField, "The ledger's current tree size.")
    latest_checkpoint_size = _optional(
        serializers.IntegerField,
        "The latest signed checkpoint's tree size, or null (entry_not_in_tree).",
        allow_null=True,
    )


def error_statuses(
    operation: dict[str, Any],
    *,
    method: str,
    authenticates: bool,
    public: bool,
    checks_csrf: bool,
    throttled: bool,
    negotiates: bool,
) -> list[str]:
    """The error statuses an operation can answer, from its parameters, body, method and view: whether it
    reads credentials (`authenticates`), lets anyone call it (`public`: every permission is AllowAny),
    checks a session's CSRF token on unsafe methods (`checks_csrf`) and refuses an Accept header its
    renderers do not meet (`negotiates`)."""
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
    if negotiates:
        statuses.add("406")
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
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
        authenticators = self.view.get_authenticators()
        public = all(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        statuses = error_statuses(
            operation,
            method=self.method,
            authenticates=bool(authenticators),
            public=public,
            checks_csrf=any(isinstance(each, SessionAuthentication) for each in authenticators),
            throttled=bool(self.view.get_throttles()),
            negotiates=not isinstance(self.view.get_content_negotiator(), FileContentNegotiation),
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
