"""A portal form sent twice (the result page reloaded, the back button, a double click) is acted on once.

The page gives each form it shows a fresh token in a hidden field, `sending`. A view that creates something
from the form takes the token (`take`) and records what it made (`remember_made`, an id) inside ONE
transaction with the service that makes it: `take` inserts a SentForm row, unique per (user, form, token),
so the row and the object commit together or not at all. A second sending arriving while the first is at
work waits on the unique index (PostgreSQL), then finds what the first made, or, if the first rolled back
(a refusal, a failure), takes the token and acts itself; a refused form so leaves no row and the corrected
form acts. The database coordinates this, not a cache: web processes share no memory. IN_FLIGHT answers a
row without what it made, which only a sending still at work in the same connection can leave. Rows older
than a day are pruned after each commit that took a token (prune on write: no beat needed, and the delete
runs outside the form's transaction, holding no lock during its work). A token the page did not make (too
long, other characters) counts as none, and none acts every time, as before.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from consortium.models import SentForm

T = TypeVar("T")

FIELD = "sending"
# What `take` answers while the first sending of the token is still at work: nothing is made yet.
IN_FLIGHT = ""
REMEMBERED = timedelta(days=1)
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
    """None when this request may act on `form` (it carries no token, or it took its token first); else
    what an earlier sending of the token made, or IN_FLIGHT. Call it inside the transaction that makes the
    object: a rollback gives the token back."""
    sending = _sending(request, form)
    if sending is None:
        return None
    try:
        with transaction.atomic():  # a savepoint: the duplicate key leaves the caller's transaction usable
            SentForm.objects.create(**sending, created_at=timezone.now())
    except IntegrityError:
        earlier = SentForm.objects.filter(**sending).values_list("made", flat=True).first()
        return earlier or IN_FLIGHT
    # robust: a failed prune is logged; it must not turn the committed object into an error page
    transaction.on_commit(prune_sent_forms, robust=True)
    return None


def make_once(
    request: HttpRequest, form: str, make: Callable[[], T], made_id: Callable[[T], str]
) -> tuple[T | None, str | None]:
    """`(make(), None)` when this request may act on `form`, the token taken and the id of what it made
    recorded in one transaction with it; `(None, earlier)` when an earlier sending of the token made
    `earlier` (an id, or IN_FLIGHT). What `make` raises rolls all back, so the corrected form acts."""
    with transaction.atomic():
        earlier = take(request, form)
        if earlier is not None:
            return None, earlier
        made = make()
        remember_made(request, form, made_id(made))
        return made, None


def remember_made(request: HttpRequest, form: str, made: str) -> None:
    """Record, in the transaction `take` was called in, that `form` sent with this token made `made`."""
    sending = _sending(request, form)
    if sending is not None:
        SentForm.objects.filter(**sending).update(made=made)


def prune_sent_forms() -> int:
    """Delete the tokens taken more than REMEMBERED ago; how many. A form sent again after that acts."""
    deleted, _ = SentForm.objects.filter(created_at__lt=timezone.now() - REMEMBERED).delete()
    return deleted


def _sent_token(request: HttpRequest) -> str:
    token = request.POST.get(FIELD, "")
    return token if _TOKEN.fullmatch(token) else ""


def _sending(request: HttpRequest, form: str) -> dict[str, Any] | None:
    """The SentForm fields naming this request's sending of `form`; None without a token (or a user)."""
    token = _sent_token(request)
    if not token or request.user.pk is None:
        return None
    return {"user_id": request.user.pk, "form": form, "token": token}
