"""A portal form sent twice (the result page reloaded, the back button, a double click) is acted on once.

The page gives each form it shows a fresh token in a hidden field, `sending`. The view that creates
something from the form remembers, in the user's session, the token it acted on and what it made (an id);
the same token sent again is answered with what was made then instead of making it again. A form sent
back with errors keeps its token, so the corrected form still acts. Only the last few tokens of each form
are kept; a token the page did not make (too long, other characters) counts as none, and none acts every
time, as before.
"""

from __future__ import annotations

import re
import secrets

from django.http import HttpRequest

FIELD = "sending"
_SESSION_KEY = "sent_forms"
_KEPT_PER_FORM = 20
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def sending_token(request: HttpRequest) -> str:
    """The token for the form on this page: the one it was sent with, when it comes back with errors, or a
    fresh one."""
    if request.method == "POST":
        sent = _sent_token(request)
        if sent:
            return sent
    return secrets.token_urlsafe(18)


def made_before(request: HttpRequest, form: str) -> str | None:
    """What `form` made when it was sent with this request's token before, None if it was not (or it
    carries no token)."""
    token = _sent_token(request)
    if not token:
        return None
    for sent, made in request.session.get(_SESSION_KEY, {}).get(form, []):
        if sent == token:
            return str(made)
    return None


def remember_made(request: HttpRequest, form: str, made: str) -> None:
    """Record that `form`, sent with this request's token, made `made`."""
    token = _sent_token(request)
    if not token:
        return
    remembered = dict(request.session.get(_SESSION_KEY, {}))
    remembered[form] = [*remembered.get(form, [])[-(_KEPT_PER_FORM - 1) :], [token, made]]
    request.session[_SESSION_KEY] = remembered


def _sent_token(request: HttpRequest) -> str:
    token = request.POST.get(FIELD, "")
    return token if _TOKEN.fullmatch(token) else ""
