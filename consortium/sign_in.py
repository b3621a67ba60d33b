"""Signing in with the username in any case: usernames are told apart whatever their case (the unique
index on lower(username), the services' username__iexact check), so "Wang-Min" is wang-min's name too.

UsernameInAnyCaseBackend is listed after django-axes' backend and before Django's ModelBackend, which
still signs in the name typed exactly as stored and keeps the sessions it started. lockout_username keys
django-axes' failed attempts by the name in lower case, so typing it in other cases buys no more guesses.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest


class UsernameInAnyCaseBackend(ModelBackend):
    """ModelBackend for a username typed in another case than the account's: it checks the password of
    the account whose name it is, whatever its case. A name typed exactly as stored is left to ModelBackend
    (this answers None), as is a name no account has."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None or password is None:
            return None
        users = get_user_model()._default_manager
        if users.filter(username=username).exists():
            return None
        stored = users.filter(username__iexact=username).values_list("username", flat=True).first()
        if stored is None:
            return None
        return super().authenticate(request, username=stored, password=password, **kwargs)


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: the username a sign-in attempt counts against, in lower case and without
    the spaces around it (as the login form reads it)."""
    source: Any = credentials if credentials else getattr(request, "POST", {})
    username = source.get("username") if source else None
    return username.strip().lower() if isinstance(username, str) else None
