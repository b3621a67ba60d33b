"""Services for password links: "Forgot your password?" and the link an admin has sent to a person."""

from __future__ import annotations

import logging

from django.db import transaction

from consortium.errors import Conflict
from consortium.member_status import not_active_detail
from consortium.models import MemberStatus, User
from consortium.passwords import (
    PasswordLinkAddressThrottle,
    may_set_password,
    normalized_address,
    people_who_may_set_password,
)
from consortium.services.people import _lock_managed_user, user_may_manage
from consortium.tasks import send_password_link_task
from consortium.transactions import CommitWatch
from ledger.services import ledger_append

logger = logging.getLogger(__name__)


def password_links_request(*, email: str) -> None:
    """ "Forgot your password?" for `email`: queue a link to set a password (consortium.tasks) for each
    person with that address who may have one (consortium.passwords), and for nobody else. The address's
    budget of links (PasswordLinkAddressThrottle, shared with the admin's button) is counted whether or not
    anyone has it, and a refusal is silent: the caller answers alike, and as fast, either way. A link that
    cannot be queued (the broker down) is logged, not raised, for the same reason, and given back to the
    budget: an outage must not lock the address out of links once it is over."""
    budget = PasswordLinkAddressThrottle(email)
    if not budget.allow_address():
        return
    wanted = normalized_address(email)
    queued = unqueued = False
    for user in people_who_may_set_password().filter(email__iexact=email):
        # iexact is the database's idea of case; compare as Unicode does too.
        if normalized_address(user.email) == wanted:
            # Nothing is written here, so nothing to wait for. A task that cannot be queued (the broker down)
            # is logged, never the caller's error: the answer would then differ for an address someone has.
            try:
                send_password_link_task.delay(user.pk)
                queued = True
            except Exception:
                logger.exception("A password link for user %s could not be queued", user.pk)
                unqueued = True
    if unqueued and not queued:  # a link that went out (to another person at the address) spends it
        budget.refund()


def user_may_send_password_link(*, actor: User, user: User) -> bool:
    """Whether user_send_password_link would send `user` a link at `actor`'s request now, the address's
    budget of links aside (it is counted only when a link is asked for): the same rule of who may ask and
    who may get one, for a page deciding whether to offer the button. Raises nothing."""
    return user_may_manage(actor=actor, user=user) and may_set_password(user)


def user_send_password_link(*, actor: User, user: User) -> User:
    """E-mail `user` a one-time link to set their own password (consortium.passwords), as their member's
    admin (or an officer) asks: the way a person added without a password, by an API key or in the
    portal, gets one. Records `member.user_password_link_sent` (the username, never the link or token);
    the mail is queued after commit (consortium.tasks: a worker sends it, retrying a mail server that is
    down, and checks again that the person may still have a password). The link is counted against the
    address's budget only if that commit happens.

    Raises NotFound (another member's person, never confirmed to exist), NotPermitted (not a manager of
    the member's people; a partner system's user or a staff account), Conflict `user_inactive` (a
    deactivated person), `no_email` (nowhere to send it), `member_not_active`, `too_many_links` (the
    address's budget of links, shared with the login page's "Forgot your password?", is spent).
    """
    commit = CommitWatch()
    budget: PasswordLinkAddressThrottle | None = None
    try:
        with transaction.atomic():
            # The first after-commit hook: the link counted stays counted once the commit happened.
            commit.start()
            locked, member_id = _lock_managed_user(actor, user)
            if not locked.is_active:
                raise Conflict(
                    f"{locked.username} is deactivated; a deactivated person cannot set a password.",
                    code="user_inactive",
                    current_state="inactive",
                )
            if not locked.email:
                raise Conflict(f"{locked.username} has no e-mail address to send a link to.", code="no_email")
            if not may_set_password(locked):
                if locked.member is None or locked.member.status == MemberStatus.ACTIVE:
                    # no person's account (a staff or partner system's)
                    raise Conflict("The member is not active.", code="member_not_active")
                status = locked.member.status
                raise Conflict(
                    not_active_detail(status, "its people are sent no password link"),
                    code="member_not_active",
                    current_state=status,
                )
            budget = PasswordLinkAddressThrottle(locked.email)
            if not budget.allow_address():
                raise Conflict(
                    f"Several links went to {locked.username}'s address recently; try again later.",
                    code="too_many_links",
                )
            ledger_append(
                kind="member.user_password_link_sent",
                actor=actor,
                subject_type="user",
                subject_id=locked.pk,
                members=[member_id],
                payload={"username": locked.username},
            )
            # The token is made when the mail is, after commit, so a rolled-back request sends nothing.
            # Robust: the link is recorded by then; a broker refusing the task is logged, not an error.
            transaction.on_commit(lambda: send_password_link_task.delay(locked.pk, actor.pk), robust=True)
    except BaseException:
        # The cache is no part of the transaction: a link that was never sent does not spend the budget.
        if budget is not None and not commit.happened:
            budget.refund()
        raise
    return locked
