"""Celery tasks of the consortium app: the e-mails with a link to set a password and of decisions on a
membership (both queued after commit), and the options every e-mail notice task shares (the exchange's
notices use them too)."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.db import InterfaceError, OperationalError

from consortium import notifications
from consortium.models import MemberStatusChange, User
from consortium.passwords import people_who_may_set_password, send_password_link

# Sent from a worker, not the request: a mail server that is down is retried with backoff instead of
# failing the page (or, from the login page, answering a known address more slowly than an unknown one);
# so is the database lost or restarting while the task reads the rows it reports on (a notice is sent
# once, then not again: without the retry a database blip lost it for good).
TRANSIENT_ERRORS = (smtplib.SMTPException, ConnectionError, OperationalError, InterfaceError)
NOTICE_OPTIONS = {
    "ignore_result": True,
    "serializer": "json",
    "soft_time_limit": 30,
    "time_limit": 60,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 30,
    "retry_backoff_max": 30 * 60,
    "retry_jitter": True,
    "max_retries": 6,
}


@shared_task(name="consortium.send_password_link_task", **NOTICE_OPTIONS)
def send_password_link_task(user_id: int, sent_by_id: int | None = None) -> int:
    """E-mail person `user_id` a link to set their password if they still may have one (active, of an
    active member: consortium.passwords); returns the messages sent. The link's token is made here, when
    the mail is."""
    user = people_who_may_set_password().filter(pk=user_id).first()
    if user is None:
        return 0
    sent_by = User.objects.filter(pk=sent_by_id).first() if sent_by_id is not None else None
    return send_password_link(user, sent_by=sent_by)


@shared_task(name="consortium.send_member_status_notice_task", **NOTICE_OPTIONS)
def send_member_status_notice_task(change_id: int, addressee: dict[str, str] | None = None) -> int:
    """E-mail the contact of a member the lifecycle step `change_id` (a MemberStatusChange: admitted,
    declined, suspended, reinstated, withdrawn) with its reason; returns the messages sent (0 for a step
    that does not exist, or is not a decision: the application). The row is never edited, so a retry or a
    late run reports that step, never a later one, and to `addressee` (notifications.addressee_of the member
    when the step was taken; without it, the member's record now), never to whoever applied again since."""
    change = MemberStatusChange.objects.select_related("member", "actor").filter(pk=change_id).first()
    if change is None or not notifications.reports_a_decision(change):
        return 0
    return notifications.send_member_status_notice(change, addressee)
