"""E-mail notices of the exchange: who is told what, rendered from templates/exchange/email/.

Each notice is one plain-text message per member side, so neither side sees the other's addresses:

* new request      -> the owner;
* decision         -> the requester (granted, steward_approved, rejected, expired undecided);
* revocation       -> the owner and the requester;
* coming expiry    -> the owner and the requester.

A side is reached through its people: for the owner, its active data stewards with an address; for the
requester, the person who asked. When nobody there has an address, the member's contact e-mail is used.
These functions only render and send (Django's `send_mail`, so the configured backend decides where mail
goes); they change nothing. Services queue them after commit through exchange.tasks, which retries
transient SMTP and connection errors.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from consortium.models import Member, MemberRole, User
from exchange.models import AccessRequest, Dataset, Grant, RequestState
from exchange.services import exchange_setting

_OUTCOMES: dict[str, str] = {
    RequestState.GRANTED: "granted",
    RequestState.STEWARD_APPROVED: "approved by the owner",
    RequestState.REJECTED: "rejected",
    RequestState.EXPIRED: "expired undecided",
    RequestState.WITHDRAWN: "withdrawn",
}


def owner_recipients(member: Member) -> list[str]:
    """Addresses of `member`'s active data stewards, sorted; its contact e-mail when none has one."""
    addresses = (
        User.objects.filter(member=member, member_role=MemberRole.STEWARD, is_active=True)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )
    return sorted(set(addresses)) or [member.contact_email]


def requester_recipients(request: AccessRequest) -> list[str]:
    """The address of the person who asked, if active and set; the requesting member's contact otherwise."""
    person = request.requester
    if person.is_active and person.email:
        return [person.email]
    return [request.requester_member.contact_email]


def _send(template: str, context: dict[str, Any], recipients: list[str]) -> int:
    # Links in a mail must be absolute: on SITE_URL, the exchange's public address (never a Host header).
    context = {**context, "site_url": settings.SITE_URL.rstrip("/")}
    subject = " ".join(render_to_string(f"exchange/email/{template}_subject.txt", context).split())
    body = render_to_string(f"exchange/email/{template}_body.txt", context)
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)


def _both_sides(template: str, context: dict[str, Any], grant: Grant) -> int:
    dataset = grant.dataset
    sent = _send(template, {**context, "audience": "owner"}, owner_recipients(dataset.owner))
    return sent + _send(template, {**context, "audience": "requester"}, requester_recipients(grant.request))


def send_request_notice(request: AccessRequest, state: str | None = None) -> int:
    """Tell the owner of the dataset about a new request, as it was when submitted: in `state` (pending,
    or granted at once; the state now when None), so a late notice never says a request a steward decided
    meanwhile was granted at once. Returns the number of messages sent (1)."""
    dataset: Dataset = request.dataset
    state = state or request.state
    context = {
        "request": request,
        "state": state,
        "state_label": RequestState(state).label,
        "dataset": dataset,
        "expires_on": request.created_at + timedelta(days=exchange_setting("REQUEST_EXPIRY_DAYS")),
    }
    return _send("request", context, owner_recipients(dataset.owner))


def send_decision_notice(request: AccessRequest, state: str) -> int:
    """Tell the requester that the request reached `state` (the state when the decision was taken, so a
    late notice never reports a later decision twice). Returns the number of messages sent (1)."""
    context = {
        "request": request,
        "dataset": request.dataset,
        "state": state,
        "outcome": _OUTCOMES.get(state, state),
        "grant": Grant.objects.filter(request=request).first() if state == RequestState.GRANTED else None,
        "expiry_days": exchange_setting("REQUEST_EXPIRY_DAYS"),
    }
    return _send("decision", context, requester_recipients(request))


def send_revocation_notice(grant: Grant) -> int:
    """Tell the owner and the requester that `grant` is revoked, and why. Returns messages sent (2)."""
    return _both_sides("revocation", {"grant": grant, "dataset": grant.dataset}, grant)


def send_expiry_notice(grant: Grant) -> int:
    """Tell the owner and the requester when `grant` expires. Returns messages sent (2)."""
    return _both_sides("expiry", {"grant": grant, "dataset": grant.dataset}, grant)
