"""Links for people to set their own password: who may get one, and the e-mail that carries it.

A link is Django's password-reset link (`default_token_generator`): it names the person (base64 of their
id) and carries a token that is valid for `PASSWORD_RESET_TIMEOUT` seconds and only until the person's
password (or e-mail, or last login) changes, so it works once. The link is absolute, built on `SITE_URL`,
never on the request's Host header, so a forged Host cannot point the link at another site. Neither the
link nor the token is logged or written to the ledger.

Only people of the member firms get links: active analysts, data stewards and member admins of active
members, with an e-mail address, whether or not they have a usable password (a person added through an
API key has none and sets it this way). Never a partner system's user (it acts only by its key), nor
consortium staff or superusers (their passwords are managed in the Django admin), nor anyone deactivated
or of a member that is not active.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.throttling import SimpleRateThrottle

from consortium.models import MemberStatus, User
from consortium.roles import PERSON_ROLES


def normalized_address(email: str) -> str:
    """An e-mail address as compared for links (NFKC, casefold, as Django's PasswordResetForm does)."""
    return unicodedata.normalize("NFKC", email.strip()).casefold()


def people_who_may_set_password() -> QuerySet[User]:
    """The people who may be sent a link to set their password (see the module docstring)."""
    return User.objects.filter(
        is_active=True,
        is_staff=False,
        is_superuser=False,
        consortium_role="",
        member__status=MemberStatus.ACTIVE,
        member_role__in=PERSON_ROLES,
    ).exclude(email="")


def may_set_password(user: User) -> bool:
    """Whether `user` is one of people_who_may_set_password(), read fresh from the database."""
    return people_who_may_set_password().filter(pk=user.pk).exists()


def password_link(user: User) -> str:
    """The absolute one-time link at which `user` sets a password."""
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    path = reverse("portal:password-reset-confirm", kwargs={"uidb64": uidb64, "token": token})
    return settings.SITE_URL.rstrip("/") + path


def send_password_link(user: User, *, sent_by: User | None = None) -> int:
    """E-mail `user` a link to set their password; `sent_by` is the member admin who asked for it, or
    None when the person asked on the login page. Sends through the configured e-mail backend and returns
    the number of messages sent (1). Does not check eligibility: callers send only to
    people_who_may_set_password()."""
    context: dict[str, Any] = {
        "user": user,
        "sent_by": sent_by,
        "link": password_link(user),
        "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        "site_url": settings.SITE_URL.rstrip("/"),
    }
    subject = " ".join(render_to_string("consortium/email/password_link_subject.txt", context).split())
    body = render_to_string("consortium/email/password_link_body.txt", context)
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email], fail_silently=False)


class PasswordLinkAddressThrottle(SimpleRateThrottle):
    """At most `password_link_address` links to one e-mail address (counted whether or not anyone has
    it, so the count tells nothing): nobody can flood a person's mailbox through the login page or the
    admin's button. The cache key holds a hash of the address, not the address."""

    scope = "password_link_address"
    duration: int  # set by SimpleRateThrottle.__init__ from the rate; the stubs leave it out
    counted = False  # whether the last allow_address counted a link

    def __init__(self, email: str) -> None:
        super().__init__()
        self.address_digest = hashlib.sha256(normalized_address(email).encode()).hexdigest()

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.address_digest}

    def allow_address(self) -> bool:
        """Count one link to the address; False when its budget is spent."""
        # SimpleRateThrottle reads nothing from the request once get_cache_key ignores it.
        self.counted = self.allow_request(None, None)  # type: ignore[arg-type]
        return self.counted

    def refund(self) -> None:
        """Take back the link `allow_address` counted (if it did), for a link that was not sent after all:
        the transaction that would have sent it rolled back."""
        if not self.counted:
            return
        self.counted = False
        history = self.cache.get(self.key, [])
        if self.now in history:
            history.remove(self.now)
            self.cache.set(self.key, history, self.duration)


def clear_login_lockout(user: User) -> None:
    """After `user` set a new password through a link: forget the failed logins counted against their
    username (django-axes), so the password they just chose lets them in at once. Whoever guessed at
    the old password starts counting again."""
    from axes.utils import reset

    reset(username=user.get_username())
