"""Services for the beat tasks: expiring undecided requests and ended grants, notices before expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from exchange.models import UNDECIDED_STATES, AccessRequest, Grant, GrantState, RequestState
from exchange.services._common import (
    _decision_binding,
    _notify_after_commit,
    _policy_hash_in_force,
    exchange_setting,
)
from exchange.services.access_requests import _lock_request, _request_payload
from exchange.services.grants import _grant_payload, _grant_permissions_sync
from ledger.canonical import format_time
from ledger.services import ledger_append


def access_request_expire_due(*, now: datetime | None = None) -> int:
    """Expire every request undecided for EXCHANGE["REQUEST_EXPIRY_DAYS"] (`access.expired` each, actor
    none, bound like every decision with decided_by 0: the system decided); returns how many.
    Idempotent: a request already decided is skipped. For the beat task."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=exchange_setting("REQUEST_EXPIRY_DAYS"))
    count = 0
    for pk in AccessRequest.objects.filter(state__in=UNDECIDED_STATES, created_at__lte=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            locked = _lock_request(AccessRequest(pk=pk))
            if locked.state not in UNDECIDED_STATES:
                continue
            previous = locked.state
            locked.state = RequestState.EXPIRED
            locked.closed_at = now
            locked.save(update_fields=["state", "closed_at"])
            ledger_append(
                kind="access.expired",
                actor=None,
                subject_type="access_request",
                subject_id=locked.pk,
                members=[locked.dataset.owner_id, locked.requester_member_id],
                payload=_request_payload(
                    locked,
                    locked.dataset,
                    stage=previous,
                    **_decision_binding(
                        dataset=locked.dataset,
                        policy_hash=_policy_hash_in_force(locked.dataset),
                        purpose=locked.purpose,
                        approvers=[locked.steward_decided_by_id]
                        if previous == RequestState.STEWARD_APPROVED
                        else [],
                        decided_by=None,
                    ),
                ),
            )
            _notify_after_commit("send_decision_notice_task", locked.pk, locked.state)
            count += 1
    return count


def grant_expire_due(*, now: datetime | None = None) -> int:
    """Record the expiry of every grant whose window ended (valid_until <= now), not revoked and not yet
    recorded: `expired_at` is set and `access.expired` appended (actor none, both members, bound like
    every decision: grant id, the policy it was given under, approvers, decided_by 0), in one
    transaction per grant on its locked row. Returns how many. Idempotent: a grant already recorded,
    revoked, or extended meanwhile is skipped, so a second run writes nothing. For the beat task; every
    access checks the window itself (Grant.state_at), so nothing waits for this to refuse a download."""
    now = now or timezone.now()
    count = 0
    due = Grant.objects.filter(expired_at__isnull=True, revoked_at__isnull=True, valid_until__lte=now)
    for pk in due.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            locked = (
                Grant.objects.select_for_update(no_key=True, of=("self",))
                .select_related("dataset", "request")
                .get(pk=pk)
            )
            if locked.expired_at is not None or locked.revoked_at is not None or locked.valid_until > now:
                continue
            locked.expired_at = now
            locked.save(update_fields=["expired_at"])
            _grant_permissions_sync(grant=locked, now=now)
            ledger_append(
                kind="access.expired",
                actor=None,
                subject_type="grant",
                subject_id=locked.pk,
                members=[locked.dataset.owner_id, locked.grantee_id],
                payload=_grant_payload(
                    locked,
                    locked.dataset,
                    valid_until=format_time(locked.valid_until),
                    downloads_remaining=locked.downloads_remaining,
                    # As for a revocation: the policy in force for a grant is the one it was given under.
                    **_decision_binding(
                        dataset=locked.dataset,
                        policy_hash=locked.policy_hash,
                        purpose=locked.purpose,
                        approvers=[
                            locked.request.steward_decided_by_id,
                            locked.request.officer_decided_by_id,
                        ],
                        decided_by=None,
                        grant_id=locked.pk,
                    ),
                ),
            )
            count += 1
    return count


def grant_expiry_notices_due(*, now: datetime | None = None) -> int:
    """Queue the notice before expiry, once per grant, for every active grant whose window ends within
    EXCHANGE["GRANT_EXPIRY_NOTICE_DAYS"]: `expiry_notice_sent_at` is set on the locked row and the notice
    task queued after commit. Returns how many. Idempotent: a grant already noticed is skipped. No
    ledger entry: a reminder changes no right."""
    now = now or timezone.now()
    horizon = now + timedelta(days=exchange_setting("GRANT_EXPIRY_NOTICE_DAYS"))
    due = Grant.objects.filter(
        Grant.in_state(GrantState.ACTIVE, now), expiry_notice_sent_at__isnull=True, valid_until__lte=horizon
    )
    count = 0
    for pk in due.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            locked = Grant.objects.select_for_update(no_key=True).get(pk=pk)
            if locked.expiry_notice_sent_at is not None or locked.state_at(now) != GrantState.ACTIVE:
                continue
            locked.expiry_notice_sent_at = now
            locked.save(update_fields=["expiry_notice_sent_at"])
            _notify_after_commit("send_expiry_notice_task", locked.pk)
            count += 1
    return count
