"""Celery tasks of the exchange: e-mail notices (queued by the services after commit), expiry and the
sweep of orphaned version files (beat).

Every task takes ids and plain strings only (JSON), loads its rows and calls a service or a notice
function. Notice tasks are idempotent in what they decide to send: each checks that the fact it reports is
still true of the stored row (a missing row, or a grant no longer revoked / about to expire, sends nothing)
and renders the state it was given, never a later one. They retry only transient delivery errors
(consortium.tasks.NOTICE_OPTIONS: smtplib.SMTPException, ConnectionError, and the database's
OperationalError and InterfaceError), with exponential backoff and jitter. The expiry tasks are
idempotent through the services' row locks and state checks.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from consortium.tasks import NOTICE_OPTIONS
from exchange import notifications, services
from exchange.models import AccessRequest, Grant, GrantState

_BEAT_OPTIONS = {"ignore_result": True, "serializer": "json", "soft_time_limit": 300, "time_limit": 360}


def _request(request_id: int) -> AccessRequest | None:
    return (
        AccessRequest.objects.select_related("dataset", "dataset__owner", "requester", "requester_member")
        .filter(pk=request_id)
        .first()
    )


def _grant(grant_id: int) -> Grant | None:
    return (
        Grant.objects.select_related(
            "dataset",
            "dataset__owner",
            "grantee",
            "request",
            "request__requester",
            "request__requester_member",
        )
        .filter(pk=grant_id)
        .first()
    )


@shared_task(name="exchange.send_request_notice_task", **NOTICE_OPTIONS)
def send_request_notice_task(request_id: int, state: str | None = None) -> int:
    """Tell the owner about new request `request_id`, in `state`, its state when submitted (None, from a
    task queued before the state was passed: its state now); returns messages sent (0 if it no longer
    exists)."""
    request = _request(request_id)
    return notifications.send_request_notice(request, state) if request else 0


@shared_task(name="exchange.send_decision_notice_task", **NOTICE_OPTIONS)
def send_decision_notice_task(request_id: int, state: str) -> int:
    """Tell the requester that request `request_id` reached `state`; returns messages sent."""
    request = _request(request_id)
    return notifications.send_decision_notice(request, state) if request else 0


@shared_task(name="exchange.send_revocation_notice_task", **NOTICE_OPTIONS)
def send_revocation_notice_task(grant_id: int) -> int:
    """Tell both members that grant `grant_id` is revoked; sends nothing unless it is."""
    grant = _grant(grant_id)
    if grant is None or grant.revoked_at is None:
        return 0
    return notifications.send_revocation_notice(grant)


@shared_task(name="exchange.send_expiry_notice_task", **NOTICE_OPTIONS)
def send_expiry_notice_task(grant_id: int) -> int:
    """Tell both members that grant `grant_id` expires soon; sends nothing unless the service recorded the
    notice and the grant is still active (revoked or expired meanwhile: nothing to announce)."""
    grant = _grant(grant_id)
    if (
        grant is None
        or grant.expiry_notice_sent_at is None
        or grant.state_at(timezone.now()) != GrantState.ACTIVE
    ):
        return 0
    return notifications.send_expiry_notice(grant)


@shared_task(name="exchange.expire_requests_task", **_BEAT_OPTIONS)
def expire_requests_task() -> int:
    """Expire requests left undecided too long (services.access_request_expire_due); returns how many."""
    return services.access_request_expire_due()


@shared_task(name="exchange.expire_grants_task", **_BEAT_OPTIONS)
def expire_grants_task() -> int:
    """Record the expiry of grants past their window and queue the notices of grants about to expire
    (services.grant_expire_due, services.grant_expiry_notices_due); returns how many grants expired."""
    expired = services.grant_expire_due()
    services.grant_expiry_notices_due()
    return expired


@shared_task(name="exchange.sweep_dataset_files_task", **_BEAT_OPTIONS)
def sweep_dataset_files_task() -> int:
    """Delete version files left without their row (services.dataset_files_sweep); returns how many."""
    return len(services.dataset_files_sweep())
