"""Services for access requests: submission, the decisions, and the grant they create."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from consortium.actors import acting_api_key
from consortium.errors import Conflict, ValidationFailed
from consortium.models import User
from consortium.roles import Capability, can
from consortium.text import refuse_hidden_characters_in_text
from exchange import policies
from exchange.models import (
    UNDECIDED_STATES,
    AccessPolicy,
    AccessRequest,
    Dataset,
    Grant,
    GrantState,
    RequestState,
    Tier,
)
from exchange.services._common import (
    _decision_binding,
    _invalid,
    _latest_version,
    _lock_dataset,
    _notify_after_commit,
    _policy_hash_in_force,
    _policy_of,
    _refuse,
    _refuse_made_under_earlier_policy,
    _require_of_member,
    _steward_of_owner,
)
from exchange.services.grants import _grant_permissions_sync
from ledger.canonical import format_time
from ledger.credit.services import grant_fee_check
from ledger.models import LedgerEntry
from ledger.services import ledger_append


class AccessRequestDecision(Protocol):
    """What approve, reject and withdraw have in common, so an interface can pick one by name."""

    def __call__(
        self, *, actor: User, request: AccessRequest, reason: str
    ) -> tuple[AccessRequest, LedgerEntry]: ...


def _request_payload(request: AccessRequest, dataset: Dataset, **extra: Any) -> dict[str, Any]:
    return {
        "request": request.pk,
        "dataset": dataset.pk,
        "grade": dataset.grade,
        "tier": request.tier,
        "purpose": request.purpose,
        "duration_days": request.duration_days,
        "requester_member": request.requester_member_id,
        "owner_member": dataset.owner_id,
        **extra,
    }


def _append_request_entry(
    kind: str, actor: User, request: AccessRequest, dataset: Dataset, **extra: Any
) -> LedgerEntry:
    return ledger_append(
        kind=kind,
        actor=actor,
        subject_type="access_request",
        subject_id=request.pk,
        members=[dataset.owner_id, request.requester_member_id],
        payload=_request_payload(request, dataset, **extra),
        api_key=acting_api_key(actor),
    )


def _grant_create(
    *,
    actor: User,
    request: AccessRequest,
    dataset: Dataset,
    policy: AccessPolicy,
    approvers: list[int],
    now: datetime,
) -> tuple[Grant, LedgerEntry]:
    latest = _latest_version(dataset)
    quota = policy.download_quota if policy.tier != Tier.CONFIDENTIAL else 0
    digest = policies.policy_hash(policy, dataset_id=dataset.pk)
    grant = Grant.objects.create(
        request=request,
        dataset=dataset,
        grantee_id=request.requester_member_id,
        tier=policy.tier,
        purpose=request.purpose,
        policy_hash=digest,
        version_sha256=latest.sha256 if latest else "",
        valid_from=now,
        valid_until=now + timedelta(days=request.duration_days),
        download_quota=quota,
        downloads_remaining=quota,
    )
    _grant_permissions_sync(grant=grant, now=now)
    request.state = RequestState.GRANTED
    request.closed_at = now
    entry = _append_request_entry(
        "access.granted",
        actor,
        request,
        dataset,
        policy_revision=policy.revision,
        valid_from=format_time(grant.valid_from),
        valid_until=format_time(grant.valid_until),
        download_quota=quota,
        price_credits=policy.price_credits,
        **_decision_binding(
            dataset=dataset,
            policy_hash=digest,
            purpose=request.purpose,
            approvers=approvers,
            decided_by=actor,
            grant_id=grant.pk,
        ),
    )
    return grant, entry


def _refuse_if_granted(*, dataset_id: int, member_id: int, now: datetime) -> None:
    """Conflict(already_granted) while the member holds a grant on the dataset that is not revoked, not
    expired and not past its window: a fresh grant would hand it a fresh download quota."""
    live = Grant.in_state(GrantState.PENDING, now) | Grant.in_state(GrantState.ACTIVE, now)
    held = (
        Grant.objects.filter(live, dataset_id=dataset_id, grantee_id=member_id)
        .order_by("-valid_until")
        .first()
    )
    if held is not None:
        raise Conflict(
            f"Your member already holds grant {held.pk} on this dataset until "
            f"{format_time(held.valid_until)}; request again once it has ended.",
            code="already_granted",
            current_state=held.state_at(now),
            grant=held.pk,
        )


def _refuse_if_undecided(*, dataset_id: int, member_id: int) -> None:
    """Conflict(duplicate_request), naming the request, while the member has an undecided request for
    the dataset: the one to follow, or to withdraw before asking again."""
    undecided = (
        AccessRequest.objects.filter(
            dataset_id=dataset_id, requester_member_id=member_id, state__in=UNDECIDED_STATES
        )
        .order_by("-created_at")
        .first()
    )
    if undecided is not None:
        raise Conflict(
            f"Your member already has an undecided request for this dataset: request {undecided.pk}, "
            f"{undecided.get_state_display().lower()}. Wait for its decision, or withdraw it to request "
            "again.",
            code="duplicate_request",
            current_state=undecided.state,
            request=undecided.pk,
        )


def _refuse_if_terms_changed(request: AccessRequest, policy: AccessPolicy) -> None:
    """Conflict(terms_changed) when the policy now asks more than the requester accepted: other terms or
    a higher price. Requests from before the price was kept compare the whole policy's hash instead."""
    if request.accepted_price_credits is None:
        changed = policies.policy_hash(policy, dataset_id=request.dataset_id) != request.policy_hash
    else:
        changed = policy.price_credits > request.accepted_price_credits
    if policy.terms_version != request.accepted_terms_version or changed:
        raise Conflict(
            f"The dataset's terms or price changed since this request was made (terms version "
            f"{request.accepted_terms_version} accepted, {policy.terms_version} in force): the requester "
            "must withdraw it and request again under the current policy.",
            code="terms_changed",
            current_state=request.state,
            accepted_terms_version=request.accepted_terms_version,
            terms_version=policy.terms_version,
            price_credits=policy.price_credits,
        )


def access_request_submit_check(actor: User) -> None:
    """Raise unless `actor` may request access for its member (access_request_submit's refusal of the
    actor, before anything about the dataset or the request): NotPermitted, `insufficient_scope` for an API
    key without the request scope."""
    _require_of_member(
        actor,
        actor.member_id,
        Capability.REQUEST_ACCESS,
        "Only people of an active member may request access.",
    )


def access_request_submit(
    *,
    actor: User,
    dataset: Dataset,
    purpose: str,
    justification: str,
    duration_days: int,
    accepted_terms_version: int | None,
) -> tuple[AccessRequest, list[LedgerEntry]]:
    """Ask for `dataset` for `purpose` during `duration_days`, accepting the policy's current terms.

    Appends `access.requested`; for an open-tier dataset the grant follows at once (`access.granted`,
    approvers empty). Returns the request and its entries. Refusals, with nothing written: the engine's
    reasons (ValidationFailed for purpose and duration, NotPermitted for eligibility, Conflict for a
    withdrawn, core or unpoliced dataset; `reasons` lists every one), NotPermitted for an actor who may not
    request (insufficient_scope for an API key without the request scope), ValidationFailed
    (terms_not_accepted), Conflict(duplicate_request, naming the `request`) when the member already has an
    undecided request for the dataset, Conflict(already_granted) while it holds a grant on the dataset that
    is neither revoked nor expired and whose window has not ended, its quota used up or not (a new request
    would renew the quota), Conflict(insufficient_credit, with `shortfall_mcr`) when the member cannot pay
    the grant fee the credit rules set.
    """
    access_request_submit_check(actor)
    assert actor.member_id is not None  # refused above otherwise
    justification = (justification or "").strip()
    if not justification:
        raise _invalid("justification", "required", "Say why your member needs the data.")
    refuse_hidden_characters_in_text(justification=justification)
    with transaction.atomic():
        # The dataset row serialises submissions (and policy changes) for one dataset: two submissions at
        # once cannot both pass the check for a grant the member already holds.
        dataset = _lock_dataset(dataset)
        policy = _policy_of(dataset)
        now = timezone.now()
        _refuse(
            policies.evaluate(
                member=actor.member,
                dataset=dataset,
                policy=policy,
                purpose=purpose,
                duration_days=duration_days,
                now=now,
            )
        )
        assert policy is not None  # the engine refuses a dataset without a policy
        if accepted_terms_version != policy.terms_version:
            raise ValidationFailed(
                f"Accept version {policy.terms_version} of the dataset's terms to request it.",
                code="terms_not_accepted",
                errors={"accepted_terms_version": [f"Must be {policy.terms_version}."]},
                terms_version=policy.terms_version,
            )
        _refuse_if_undecided(dataset_id=dataset.pk, member_id=actor.member_id)
        _refuse_if_granted(dataset_id=dataset.pk, member_id=actor.member_id, now=now)
        grant_fee_check(
            consumer_member_id=actor.member_id,
            provider_member_id=dataset.owner_id,
            tier=policy.tier,
            duration_days=duration_days,
        )
        digest = policies.policy_hash(policy, dataset_id=dataset.pk)
        try:
            with transaction.atomic():
                request = AccessRequest.objects.create(
                    dataset=dataset,
                    requester_member_id=actor.member_id,
                    requester=actor,
                    purpose=purpose,
                    justification=justification,
                    duration_days=duration_days,
                    tier=policy.tier,
                    policy_hash=digest,
                    accepted_terms_version=policy.terms_version,
                    accepted_price_credits=policy.price_credits,
                    created_at=now,
                )
        except IntegrityError:
            # A concurrent submit won the partial unique constraint; its request is committed by now.
            _refuse_if_undecided(dataset_id=dataset.pk, member_id=actor.member_id)
            raise Conflict(
                "Your member already has an undecided request for this dataset.",
                code="duplicate_request",
                current_state=RequestState.PENDING,
            ) from None
        entries = [
            _append_request_entry(
                "access.requested",
                actor,
                request,
                dataset,
                policy_hash=digest,
                terms_version=policy.terms_version,
                price_credits=policy.price_credits,
                justification=justification,
            )
        ]
        if policy.tier == Tier.OPEN:
            _, entry = _grant_create(
                actor=actor, request=request, dataset=dataset, policy=policy, approvers=[], now=now
            )
            request.save(update_fields=["state", "closed_at"])
            entries.append(entry)
            _notify_after_commit("send_decision_notice_task", request.pk, request.state)
        _notify_after_commit("send_request_notice_task", request.pk, request.state)
    return request, entries


_NOT_A_DECIDER = "Only the owner's data steward or a security officer may decide this request."


def access_request_decide_check(actor: User, request: AccessRequest) -> None:
    """Raise unless `actor` decides requests for `request`'s dataset at some stage: the owner's data steward
    or a security officer (NotPermitted, `insufficient_scope` for the owner's API key without the manage
    scope). Whether the request's state is the actor's stage is the deciding service's to check."""
    if not (_steward_of_owner(actor, request.dataset) or can(actor, Capability.DECIDE_CONFIDENTIAL)):
        _require_of_member(actor, request.dataset.owner_id, Capability.DECIDE_REQUESTS, _NOT_A_DECIDER)


def _lock_request(request: AccessRequest) -> AccessRequest:
    return (
        AccessRequest.objects.select_for_update(no_key=True, of=("self",))
        .select_related("dataset")
        .get(pk=request.pk)
    )


def _illegal(action: str, state: str) -> Conflict:
    return Conflict(
        f"Cannot {action} a request that is {state}.", code="illegal_transition", current_state=state
    )


def access_request_approve(
    *, actor: User, request: AccessRequest, reason: str = ""
) -> tuple[AccessRequest, LedgerEntry]:
    """The decider of the request's current stage approves it.

    pending: the owner's data steward. Restricted -> granted (a Grant, `access.granted`); confidential ->
    steward_approved (`access.approved`, stage "steward"). steward_approved: a consortium security officer
    -> granted. The policy in force is evaluated again first (its reasons refuse the approval; a purpose
    or duration it no longer allows is Conflict(policy_changed)), and
    Conflict(terms_changed) refuses it when the terms version differs from the accepted one or the price
    rose since submission: the requester must request again. Raises NotPermitted for anyone else,
    Conflict(illegal_transition) when the state is not the actor's stage, Conflict(already_granted) when
    the requester meanwhile holds a grant on the dataset.
    """
    access_request_decide_check(actor, request)
    is_steward = _steward_of_owner(actor, request.dataset)
    is_security = can(actor, Capability.DECIDE_CONFIDENTIAL)
    reason = (reason or "").strip()
    refuse_hidden_characters_in_text(reason=reason)
    with transaction.atomic():
        locked = _lock_request(request)
        dataset = locked.dataset
        state = locked.state
        if not (
            (state == RequestState.PENDING and is_steward)
            or (state == RequestState.STEWARD_APPROVED and is_security)
        ):
            raise _illegal("approve", state)
        policy = _policy_of(dataset)
        now = timezone.now()
        _refuse_made_under_earlier_policy(
            policies.evaluate(
                member=locked.requester_member,
                dataset=dataset,
                policy=policy,
                purpose=locked.purpose,
                duration_days=locked.duration_days,
                now=now,
            ),
            made="request",
            current_state=state,
        )
        assert policy is not None
        _refuse_if_terms_changed(locked, policy)
        if state == RequestState.PENDING:
            locked.steward_decided_by, locked.steward_decided_at = actor, now
        else:
            locked.officer_decided_by, locked.officer_decided_at = actor, now
        locked.decision_reason = reason
        if state == RequestState.PENDING and policy.tier == Tier.CONFIDENTIAL:
            locked.state = RequestState.STEWARD_APPROVED
            locked.steward_approval_reason = reason
            entry = _append_request_entry(
                "access.approved",
                actor,
                locked,
                dataset,
                stage="steward",
                reason=reason,
                **_decision_binding(
                    dataset=dataset,
                    policy_hash=policies.policy_hash(policy, dataset_id=dataset.pk),
                    purpose=locked.purpose,
                    approvers=[actor.pk],
                    decided_by=actor,
                ),
            )
        else:
            _refuse_if_granted(dataset_id=dataset.pk, member_id=locked.requester_member_id, now=now)
            approvers = [pk for pk in (locked.steward_decided_by_id, locked.officer_decided_by_id) if pk]
            _, entry = _grant_create(
                actor=actor, request=locked, dataset=dataset, policy=policy, approvers=approvers, now=now
            )
        locked.save()
        _notify_after_commit("send_decision_notice_task", locked.pk, locked.state)
    return locked, entry


def access_request_reject(
    *, actor: User, request: AccessRequest, reason: str
) -> tuple[AccessRequest, LedgerEntry]:
    """An undecided request is rejected, with a reason: by the owner's steward at either stage, or by a
    security officer once the steward approved. `access.rejected`. NotPermitted / Conflict as approve; a
    request already decided is Conflict(illegal_transition) before a missing reason is reason_required
    (a reason cannot make it rejectable)."""
    access_request_decide_check(actor, request)
    is_steward = _steward_of_owner(actor, request.dataset)
    is_security = can(actor, Capability.DECIDE_CONFIDENTIAL)
    reason = (reason or "").strip()
    with transaction.atomic():
        locked = _lock_request(request)
        state = locked.state
        if state not in UNDECIDED_STATES or (state == RequestState.PENDING and not is_steward):
            raise _illegal("reject", state)
        if not reason:
            raise _invalid("reason", "reason_required", "A reason is required to reject a request.")
        refuse_hidden_characters_in_text(reason=reason)
        now = timezone.now()
        approvers = [locked.steward_decided_by_id] if state == RequestState.STEWARD_APPROVED else []
        if state == RequestState.PENDING or not is_security:
            locked.steward_decided_by, locked.steward_decided_at = actor, now
        else:
            locked.officer_decided_by, locked.officer_decided_at = actor, now
        locked.state = RequestState.REJECTED
        locked.decision_reason = reason
        locked.closed_at = now
        locked.save()
        entry = _append_request_entry(
            "access.rejected",
            actor,
            locked,
            locked.dataset,
            stage=state,
            reason=reason,
            **_decision_binding(
                dataset=locked.dataset,
                policy_hash=_policy_hash_in_force(locked.dataset),
                purpose=locked.purpose,
                approvers=approvers,
                decided_by=actor,
            ),
        )
        _notify_after_commit("send_decision_notice_task", locked.pk, locked.state)
    return locked, entry


def access_request_withdraw_check(actor: User, request: AccessRequest) -> None:
    """Raise unless `actor` may withdraw `request`: the requesting member's people who may request access
    (NotPermitted, `insufficient_scope` for its API key without the request scope)."""
    _require_of_member(
        actor,
        request.requester_member_id,
        Capability.REQUEST_ACCESS,
        "Only the requesting member may withdraw its request.",
    )


def access_request_withdraw(
    *, actor: User, request: AccessRequest, reason: str = ""
) -> tuple[AccessRequest, LedgerEntry]:
    """The requesting member's people withdraw an undecided request (`access.withdrawn`).

    NotPermitted for anyone else; Conflict(illegal_transition) once it is decided.
    """
    access_request_withdraw_check(actor, request)
    reason = (reason or "").strip()
    refuse_hidden_characters_in_text(reason=reason)
    with transaction.atomic():
        locked = _lock_request(request)
        if locked.state not in UNDECIDED_STATES:
            raise _illegal("withdraw", locked.state)
        previous = locked.state
        locked.state = RequestState.WITHDRAWN
        locked.closed_at = timezone.now()
        locked.decision_reason = reason
        locked.save()
        entry = _append_request_entry(
            "access.withdrawn",
            actor,
            locked,
            locked.dataset,
            stage=previous,
            reason=locked.decision_reason,
            **_decision_binding(
                dataset=locked.dataset,
                policy_hash=_policy_hash_in_force(locked.dataset),
                purpose=locked.purpose,
                approvers=[locked.steward_decided_by_id] if previous == RequestState.STEWARD_APPROVED else [],
                decided_by=actor,
            ),
        )
    return locked, entry
