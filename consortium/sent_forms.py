"""A portal form sent twice (the result page reloaded, the back button, a double click) is acted on once.

The page gives each form it shows a fresh token in a hidden field, `sending`. Before a view creates
something from the form it takes the token (`take`): the first sending claims it in the cache, with
`cache.add`, which only one of two requests arriving together wins (Redis SET NX; a lock in the local
memory cache); the view then records what it made (`remember_made`, an id), or gives the token back on a
refusal (`release`) so that the corrected form acts. A later sending of the same token is answered with
what was made, and one arriving while the first is still at work with IN_FLIGHT. A claim left by a
request that failed outright lapses after a minute; what was made is remembered for a day. A token the page
did not make (too long, other characters) counts as none, and none acts every time, as before.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest

FIELD = "sending"
# What `take` answers while the first sending of the token is still at work: nothing is made yet.
IN_FLIGHT = ""
_CLAIM_SECONDS = 60
_REMEMBERED_SECONDS = 24 * 60 * 60
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def sending_token(request: HttpRequest) -> str:
    """The token for the form on this page: the one it was sent with, when it comes back with errors, or a
    fresh one."""
    if request.method == "POST":
        sent = _sent_token(request)
        if sent:
            return sent
    return secrets.token_urlsafe(18)


def take(request: HttpRequest, form: str) -> str | None:
    """None when this request may act on `form` (it carries no token, or it claimed its token first); else
    what an earlier sending of the token made, or IN_FLIGHT while that sending is still at work."""
    key = _key(request, form)
    if key is None or cache.add(key, IN_FLIGHT, timeout=_CLAIM_SECONDS):
        return None
    made: Any = cache.get(key, IN_FLIGHT)
    return str(made)


def remember_made(request: HttpRequest, form: str, made: str) -> None:
    """Record that `form`, sent with this request's token, made `made` (a non-empty id)."""
    key = _key(request, form)
    if key is not None:
        cache.set(key, made, timeout=_REMEMBERED_SECONDS)


def release(request: HttpRequest, form: str) -> None:
    """Give back this request's claim on its token when nothing was made: the form, corrected, acts."""
    key = _key(request, form)
    if key is not None:
        cache.delete(key)


def _sent_token(request: HttpRequest) -> str:
    token = request.POST.get(FIELD, "")
    return token if _TOKEN.fullmatch(token) else ""


def _key(request: HttpRequest, form: str) -> str | None:
    token = _sent_token(request)
    return f"sent-form:{form}:{request.user.pk}:{token}" if token else None
