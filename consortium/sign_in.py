"""Signing in with the username in any case: usernames are told apart whatever their case (the unique
index on lower(username), the services' username__iexact check), so "Wang-Min" is wang-min's name too.

UsernameInAnyCaseBackend is listed after django-axes' backend and before Django's ModelBackend, and answers
every sign-in by name and password itself: it finds the account whatever the case typed and checks its
password, and refuses with PermissionDenied, which ends the sign-in there. ModelBackend stays listed only so
that the sessions it started stay valid. One backend answering means a refusal hashes the password once
whatever was typed: an unknown name (hashed anyway, as ModelBackend does), a wrong password, a name in
another case. When two backends answered in turn, a name in another case cost two hashings and the others
one, which told by the time taken that the name exists. lockout_username keys django-axes' failed attempts
by the name in lower case, so typing it in other cases buys no more guesses.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class UsernameInAnyCaseBackend(ModelBackend):
    """ModelBackend finding the account by its username in any case; a refusal ends the sign-in."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None or password is None:
            return None  # not a sign-in by name and password: the other backends' to answer
        user_model = get_user_model()
        user = user_model._default_manager.filter(username__iexact=username).first()
        if user is None:
            user_model().set_password(password)  # as long as a wrong password takes (ModelBackend does too)
        elif user.check_password(password) and self.user_can_authenticate(user):
            return user
        raise PermissionDenied


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: the username a sign-in attempt counts against, in lower case and without
    the spaces around it (as the login form reads it)."""
    source: Any = credentials if credentials else getattr(request, "POST", {})
    username = source.get("username") if source else None
    return username.strip().lower() if isinstance(username, str) else None
