"""E-mail notices of the consortium: a member's contact is told of each decision on its membership.

One plain-text message, to the member's contact e-mail, for each step of the lifecycle taken on it:
admitted, declined (an application), suspended, reinstated, withdrawn. It reports one MemberStatusChange row,
never the member's later state: what was decided, when, by whom (a consortium officer, or the member's own
admin for a withdrawal), the reason recorded with it (admission needs none) and what happens next. Links are
absolute, on SITE_URL. It is addressed as the member's record was when the step was taken (addressee_of): a
declined firm's record is reopened with the details of whoever applies again under its credit code, which
may happen before the worker sends the decline, and the decline is not theirs to read.

These functions only render and send (Django's `send_mail`, so the configured backend decides where mail
goes); they change nothing. The lifecycle services queue them after commit through consortium.tasks, which
retries transient SMTP, connection and database errors.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from consortium.models import Member, MemberRole, MemberStatus, MemberStatusChange, User

# The statuses a notice reports, by what the subject calls the step that led there.
OUTCOMES: dict[str, str] = {
    MemberStatus.ACTIVE: "admitted",  # or "reinstated", from suspended: see _outcome
    MemberStatus.DECLINED: "application declined",
    MemberStatus.SUSPENDED: "suspended",
    MemberStatus.WITHDRAWN: "withdrawn",
}


# What a notice is addressed with: the firm's name, its contact person and their e-mail.
ADDRESSED_WITH = ("legal_name", "contact_name", "contact_email")


def addressee_of(member: Member) -> dict[str, str]:
    """The fields of `member` a notice is addressed with (ADDRESSED_WITH), as they are now: taken when a step
    is, so that its notice goes where the member's record pointed then."""
    return {field: getattr(member, field) for field in ADDRESSED_WITH}


def _outcome(change: MemberStatusChange) -> str:
    if change.to_status == MemberStatus.ACTIVE and change.from_status == MemberStatus.SUSPENDED:
        return "reinstated"
    return OUTCOMES[change.to_status]


def reports_a_decision(change: MemberStatusChange) -> bool:
    """Whether `change` is a decision its member is told of (every step but the application itself)."""
    return change.from_status != "" and change.to_status in OUTCOMES


def send_member_status_notice(change: MemberStatusChange, addressee: Mapping[str, str] | None = None) -> int:
    """Tell the contact of `change.member` about `change`: the one `addressee` (addressee_of, when the step
    was taken) names, else the member's record as it is now. Returns the number of messages sent (1).
    Does not check that the change is one to report: callers send only when reports_a_decision."""
    member = change.member
    if addressee is not None:
        member = copy.copy(member)  # only for this message: nothing is saved
        for field in ADDRESSED_WITH:
            setattr(member, field, addressee.get(field, getattr(member, field)))
    actor: User | None = change.actor
    context: dict[str, Any] = {
        "member": member,
        "change": change,
        "outcome": _outcome(change),
        # A withdrawal may be the member's own decision, taken by its admin; every other step is an officer's.
        "by_own_admin": actor is not None and actor.member_id == member.pk,
        "actor": actor,
        "has_admin": User.objects.filter(
            member=member, member_role=MemberRole.ADMIN, is_active=True
        ).exists(),
        "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        "site_url": settings.SITE_URL.rstrip("/"),
    }
    subject = " ".join(render_to_string("consortium/email/member_status_subject.txt", context).split())
    body = render_to_string("consortium/email/member_status_body.txt", context)
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [member.contact_email], fail_silently=False)
