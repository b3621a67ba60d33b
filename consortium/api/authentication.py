"""The API's authenticators: API keys for partners' systems (`Authorization: Api-Key <prefix>.<secret>`),
whose failures are throttled per client address (consortium.api.throttling), and the portal's session,
whose CSRF refusal says what to send."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from consortium.api.throttling import AuthenticationFailureThrottle
from consortium.member_status import not_active_detail
from consortium.models import MemberAPIKey, MemberStatus

KEYWORD = "Api-Key"
# Recording every use would turn each read into a write; a minute's resolution is enough for audits.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class MemberAPIKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates as the key's system user; request.auth is the MemberAPIKey (its scopes apply)."""

    def authenticate(self, request: Any) -> tuple[Any, MemberAPIKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, raw_key = header.partition(" ")
        # RFC 9110 (11.1): an authentication scheme is a case-insensitive token; `api-key ...` is ours too.
        if keyword.lower() != KEYWORD.lower():
            return None
        raw_key = raw_key.strip()
        prefix, _, _ = raw_key.partition(".")
        throttle = AuthenticationFailureThrottle(request, prefix=prefix)
        throttle.refuse_if_spent()
        try:
            key = _valid_key(raw_key, prefix)
        except exceptions.AuthenticationFailed:
            throttle.failed()
            raise
        throttle.succeeded()
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            MemberAPIKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return key.system_user, key

    def authenticate_header(self, request: Any) -> str:
        return KEYWORD


def _valid_key(raw_key: str, prefix: str) -> MemberAPIKey:
    """The key `raw_key` (whose prefix is `prefix`) names, if it authenticates; else AuthenticationFailed."""
    # Prefixes are ASCII letters and digits. Anything else names no key, and must not reach the query:
    # PostgreSQL refuses a NUL byte in a text parameter (DataError, a 500).
    key = (
        MemberAPIKey.objects.select_related("member", "system_user", "system_user__member")
        .filter(prefix=prefix)
        .first()
        if prefix.isascii() and prefix.isalnum()
        else None
    )
    if key is None or not type(key).objects.key_generator.verify(raw_key, key.hashed_key):
        raise exceptions.AuthenticationFailed("The API key is not valid.", code="api_key_invalid")
    if key.revoked:
        raise exceptions.AuthenticationFailed("The API key has been revoked.", code="api_key_revoked")
    if key.has_expired:
        raise exceptions.AuthenticationFailed("The API key has expired.", code="api_key_expired")
    if key.member.status != MemberStatus.ACTIVE:
        raise exceptions.AuthenticationFailed(
            not_active_detail(key.member.status, "its keys do not authenticate", whose="The key's member"),
            code="member_not_active",
        )
    return key


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, whose CSRF refusal has its own code (`csrf_failed`) and says what to do.

    DRF raises a plain PermissionDenied ("CSRF Failed: ..."), the code of a role that may not do something,
    so a client could not tell a missing token from a refusal that no token would lift.
    """

    def enforce_csrf(self, request: Any) -> None:
        if settings.CSRF_HEADER_NAME in request.META:
            request = _TokenInHeader(request)
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise exceptions.PermissionDenied(
                f"{exc.detail} A signed-in session must send its CSRF token (the csrftoken cookie) in the "
                "X-CSRFToken header of every request that changes something; a program should authenticate "
                f"with an API key instead (Authorization: {KEYWORD} <key>), which needs no CSRF token.",
                code="csrf_failed",
            ) from exc


class _TokenInHeader:
    """A request as the CSRF check sees it when its token is in the X-CSRFToken header: all but the body.

    Django's check reads `request.POST` for a form field token before it looks at the header, and on DRF's
    Request that parses the whole body, whatever its media type. So a session's write had its body refused
    (400 malformed_request, 413, 415) before anything checked who may act, and an operation that takes no body
    answered 413 and 415 it does not document. The body is read only where the token may be in it (the
    browsable API's forms, which send no header)."""

    POST = QueryDict()

    def __init__(self, request: Any) -> None:
        self._request = request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


class SessionAuthenticationScheme(SessionScheme):
    target_class = "consortium.api.authentication.SessionAuthentication"


class MemberAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "consortium.api.authentication.MemberAPIKeyAuthentication"
    name = "memberApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: a member's API key, created by its member admin and shown once.",
        }
