"""Services for member enterprises: the application, the lifecycle decisions, the contact details."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from consortium import credit_code as credit_codes
from consortium import notifications
from consortium.actors import acting_api_key
from consortium.errors import Conflict, NotPermitted, ServiceError, ValidationFailed
from consortium.models import (
    Cluster,
    Member,
    MemberRole,
    MemberStatus,
    MemberStatusChange,
    Sector,
    SizeClass,
    User,
)
from consortium.roles import Capability, can, require
from consortium.services._common import _check_email, _refuse_too_long, _require_each
from consortium.services.people import _deactivate
from consortium.tasks import send_member_status_notice_task
from consortium.text import refuse_hidden_characters, refuse_hidden_characters_in_text
from ledger.services import ledger_append

# The lifecycle: action -> (states it may start from, state it leads to, ledger kind, reason required).
_TRANSITIONS: dict[str, tuple[frozenset[str], str, str, bool]] = {
    "admit": (frozenset({MemberStatus.APPLIED}), MemberStatus.ACTIVE, "member.admitted", False),
    "decline": (frozenset({MemberStatus.APPLIED}), MemberStatus.DECLINED, "member.declined", True),
    "suspend": (frozenset({MemberStatus.ACTIVE}), MemberStatus.SUSPENDED, "member.suspended", True),
    "reinstate": (frozenset({MemberStatus.SUSPENDED}), MemberStatus.ACTIVE, "member.reinstated", True),
    "withdraw": (
        frozenset({MemberStatus.ACTIVE, MemberStatus.SUSPENDED}),
        MemberStatus.WITHDRAWN,
        "member.withdrawn",
        True,
    ),
}


# What an application must give, each with what a missing or blank one is told (member_apply).
_APPLICATION_REQUIRED = {
    "legal_name": "The legal name is required.",
    "credit_code": "The unified social credit code is required.",
    "size_class": f"A size class is required: one of {', '.join(SizeClass.values)}.",
    "sector": "A sector is required: a GB/T 4754 industry section, A to T.",
    "region": "The region is required.",
    "contact_name": "A contact person is required.",
    "contact_email": "A contact e-mail is required.",
}


def _member_payload(member: Member, **extra: Any) -> dict[str, Any]:
    return {
        "credit_code": member.credit_code,
        "legal_name": member.legal_name,
        "size_class": member.size_class,
        "sector": member.sector,
        **extra,
    }


def member_apply(
    *,
    legal_name: str,
    credit_code: str,
    size_class: str,
    sector: str,
    region: str,
    contact_name: str,
    contact_email: str,
    contact_phone: str = "",
    cluster_slugs: Iterable[str] = (),
    applicant: User | None = None,
) -> Member:
    """Record a firm's application: a new member in status `applied`, its group, history and ledger entry.

    A firm whose application was declined applies again the same way: its member record (the credit code
    is unique) is reopened, the details given now replacing the old ones, and goes back to `applied` with a
    new history row and `member.applied` entry (payload `"from": "declined"`); the declined application's
    decision stays in the history and the ledger. Officers decide the new application afresh, and the
    people they added for the declined one are deactivated with it (not carried over to whoever applies).

    Raises ValidationFailed naming the field: `invalid_credit_code` (the message says what is wrong),
    `duplicate_credit_code` (a member, or an application not declined, holds the code), `unknown_sector`,
    `unknown_size_class`, `unknown_cluster`, `invalid_email`, `hidden_character` (a name holding a control
    or bidi character: consortium.text); first `required`, naming every field that is missing or blank
    (all but the contact phone and the clusters), then `too_long`, naming every text longer than its
    column takes.
    Nothing is written when it raises.
    """
    given = {
        "legal_name": legal_name,
        "credit_code": credit_code,
        "size_class": size_class,
        "sector": sector,
        "region": region,
        "contact_name": contact_name,
        "contact_email": contact_email,
    }
    _require_each(given, _APPLICATION_REQUIRED)
    legal_name, region, contact_name, contact_email = (
        value.strip() for value in (legal_name, region, contact_name, contact_email)
    )
    _refuse_too_long(
        Member,
        {
            "legal_name": legal_name,
            "region": region,
            "contact_name": contact_name,
            "contact_email": contact_email,
            "contact_phone": contact_phone,
        },
    )
    refuse_hidden_characters(
        legal_name=legal_name,
        region=region,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone or "",
    )
    _check_email("contact_email", contact_email)
    try:
        code = credit_codes.validate(credit_code or "")
    except credit_codes.CreditCodeError as exc:
        raise ValidationFailed(
            str(exc), code="invalid_credit_code", errors={"credit_code": [str(exc)]}
        ) from None
    if sector not in Sector.values:
        message = f"'{sector}' is not a GB/T 4754 industry section (A-T)."
        raise ValidationFailed(message, code="unknown_sector", errors={"sector": [message]})
    if size_class not in SizeClass.values:
        message = f"'{size_class}' is not a size class; use one of {', '.join(SizeClass.values)}."
        raise ValidationFailed(message, code="unknown_size_class", errors={"size_class": [message]})
    slugs = sorted(set(cluster_slugs))
    clusters = list(Cluster.objects.filter(slug__in=slugs))
    unknown = sorted(set(slugs) - {cluster.slug for cluster in clusters})
    if unknown:
        message = f"Unknown cluster: {', '.join(unknown)}."
        raise ValidationFailed(message, code="unknown_cluster", errors={"cluster_slugs": [message]})

    duplicate = f"A member with credit code {code} already exists or has applied."
    details = {
        "legal_name": legal_name,
        "size_class": size_class,
        "sector": sector,
        "region": region,
        "contact_name": contact_name,
        "contact_email": contact_email,
        "contact_phone": (contact_phone or "").strip(),
    }
    with transaction.atomic():
        now = timezone.now()
        # Checked inside the transaction, the declined member's row locked: of two applications under its
        # code, the second sees the first one's `applied`. The unique constraints decide a race between
        # two first applicants.
        actor = applicant if applicant is not None and applicant.is_authenticated else None
        member = _declined_member_locked(code)
        if member is not None:
            previous = member.status
            for field, value in details.items():
                setattr(member, field, value)
            member.status = MemberStatus.APPLIED
            member.status_changed_at = now
            member.save(update_fields=[*details, "status", "status_changed_at"])
            _deactivate_people_of_declined(member, actor=actor)
        elif _credit_code_taken(code):
            raise ValidationFailed(
                duplicate, code="duplicate_credit_code", errors={"credit_code": [duplicate]}
            )
        else:
            previous = ""
            try:
                group = Group.objects.create(name=f"member:{code}")
                member = Member.objects.create(
                    **details,
                    credit_code=code,
                    status=MemberStatus.APPLIED,
                    status_changed_at=now,
                    group=group,
                )
            except IntegrityError:
                # The other applicant committed between our check and our insert (group name or code).
                raise ValidationFailed(
                    duplicate, code="duplicate_credit_code", errors={"credit_code": [duplicate]}
                ) from None
        member.clusters.set(clusters)
        MemberStatusChange.objects.create(
            member=member,
            from_status=previous,
            to_status=MemberStatus.APPLIED,
            actor=actor,
            reason="",
            at=now,
        )
        reapplied = {"from": previous} if previous else {}
        ledger_append(
            kind="member.applied",
            actor=actor,
            subject_type="member",
            subject_id=member.pk,
            members=[member.pk],
            payload=_member_payload(
                member, region=member.region, clusters=slugs, to=MemberStatus.APPLIED.value, **reapplied
            ),
        )
    return member


def _declined_member_locked(code: str) -> Member | None:
    """The member holding credit code `code` if its application was declined (a firm that may apply
    again), its row locked for the new application; None otherwise."""
    return (
        Member.objects.select_for_update(no_key=True)
        .filter(credit_code=code, status=MemberStatus.DECLINED)
        .first()
    )


def _deactivate_people_of_declined(member: Member, *, actor: User | None) -> None:
    """Deactivate the people an officer added to `member` for its declined application (each with its
    `member.user_deactivated` entry), as its record is reopened for a new one: whoever applies under a
    credit code, officers may add people before deciding, and on admission those people would act for the
    firm of the new application, which no officer vetted them for. Inside the caller's transaction, with
    the member's row locked."""
    for person in User.objects.select_for_update(no_key=True).filter(member=member, is_active=True):
        _deactivate(person, actor=actor, member_id=member.pk)


def _credit_code_taken(code: str) -> bool:
    return Member.objects.filter(credit_code=code).exists()


def member_transition_check(actor: User, member: Member, *, action: str) -> None:
    """Raise NotPermitted unless `actor` may take `action` (admit, decline, suspend, reinstate, withdraw)
    on `member`: a consortium officer, or for a withdrawal the member's own active admin. Whether the
    member's status allows it is the transition's to check."""
    own_withdrawal = (
        action == "withdraw"
        and actor.member_id == member.pk
        and actor.member_role == MemberRole.ADMIN
        and actor.is_active
    )
    if not (can(actor, Capability.DECIDE_MEMBERSHIP) or own_withdrawal):
        raise NotPermitted(f"Only a consortium officer may {action} a member.")


def _member_transition(
    *, action: str, member: Member, actor: User, reason: str, status_since: datetime | None
) -> Member:
    """Take lifecycle step `action` (_TRANSITIONS) with its history row and ledger entry; once committed,
    the member's contact is e-mailed the decision (consortium.notifications).

    `status_since` is the member's `status_changed_at` as the decider read it. If the status changed since,
    Conflict(status_changed) and nothing is done, even when it is the same status again: a declined firm
    that applied again is `applied` as before, with details no officer has read yet."""
    sources, target, kind, reason_required = _TRANSITIONS[action]
    reason = (reason or "").strip()
    member_transition_check(actor, member, action=action)
    if reason_required and not reason:
        message = f"A reason is required to {action} a member; it is recorded in the member's history."
        raise ValidationFailed(message, code="reason_required", errors={"reason": [message]})
    refuse_hidden_characters_in_text(reason=reason)
    with transaction.atomic():
        # The row lock makes two officers' decisions queue up; the second sees the first one's state.
        locked = Member.objects.select_for_update(no_key=True).get(pk=member.pk)
        if status_since is not None and locked.status_changed_at != status_since:
            # In a person's words (the minute, as pages write times, and the status now); the body's
            # `status_changed_at` keeps the exact time for a client.
            changed_at = locked.status_changed_at.astimezone(UTC)
            raise Conflict(
                f"The member's status changed at {changed_at:%Y-%m-%d %H:%M} UTC, after you read it: it is "
                f"now {locked.get_status_display()}. Read the member again and decide anew.",
                code="status_changed",
                current_state=locked.status,
                status_changed_at=locked.status_changed_at,
            )
        if locked.status not in sources:
            raise Conflict(
                f"Cannot {action} a member whose status is {locked.status}.",
                code="illegal_transition",
                current_state=locked.status,
            )
        previous = locked.status
        now = timezone.now()
        locked.status = target
        locked.status_changed_at = now
        locked.save(update_fields=["status", "status_changed_at"])
        change = MemberStatusChange.objects.create(
            member=locked, from_status=previous, to_status=target, actor=actor, reason=reason, at=now
        )
        ledger_append(
            kind=kind,
            actor=actor,
            subject_type="member",
            subject_id=locked.pk,
            members=[locked.pk],
            payload=_member_payload(locked, **{"from": previous, "to": target, "reason": reason}),
        )
        # The member's contact is told once the step is committed (consortium.notifications), never if it
        # rolls back. Robust: a broker refusing the task is logged, not the decision's error. Addressed as
        # the record is now: a declined firm's record may be reopened by anyone's new application before the
        # worker sends the decline, which must not go to them.
        addressee = notifications.addressee_of(locked)
        transaction.on_commit(lambda: send_member_status_notice_task.delay(change.pk, addressee), robust=True)
    return locked


def member_admit(
    *, member: Member, actor: User, reason: str = "", status_since: datetime | None = None
) -> Member:
    """applied -> active. Officers only (NotPermitted); Conflict(illegal_transition) from any other state."""
    return _member_transition(
        action="admit", member=member, actor=actor, reason=reason, status_since=status_since
    )


def member_decline(
    *, member: Member, actor: User, reason: str, status_since: datetime | None = None
) -> Member:
    """applied -> declined, with a reason (ValidationFailed without). Officers only."""
    return _member_transition(
        action="decline", member=member, actor=actor, reason=reason, status_since=status_since
    )


def member_suspend(
    *, member: Member, actor: User, reason: str, status_since: datetime | None = None
) -> Member:
    """active -> suspended, with a reason. Officers only; the member's users and keys stop working."""
    return _member_transition(
        action="suspend", member=member, actor=actor, reason=reason, status_since=status_since
    )


def member_reinstate(
    *, member: Member, actor: User, reason: str, status_since: datetime | None = None
) -> Member:
    """suspended -> active, with a reason. Officers only."""
    return _member_transition(
        action="reinstate", member=member, actor=actor, reason=reason, status_since=status_since
    )


def member_withdraw(
    *, member: Member, actor: User, reason: str, status_since: datetime | None = None
) -> Member:
    """active|suspended -> withdrawn, with a reason. Officers, or the member's own member admin."""
    return _member_transition(
        action="withdraw", member=member, actor=actor, reason=reason, status_since=status_since
    )


# The parts of a member's record its own admin keeps up to date (member_contact_change).
MEMBER_CONTACT_FIELDS = ("contact_name", "contact_email", "contact_phone")
_CONTACT_REQUIRED = {field: _APPLICATION_REQUIRED[field] for field in ("contact_name", "contact_email")}


def member_contact_change_check(actor: User, member: Member) -> None:
    """Raise unless `actor` may change `member`'s contact details (member_contact_change), before the new
    details are read: a consortium officer for any member; the member's own admin while the member is
    active, or a key of it with the `manage` scope. Callers found `member` among those `actor` may see
    (selectors.member_get_for: what it may not see is not found before anything is refused), so another
    member's people, who see it in the directory, are refused as anyone else is: NotPermitted
    `insufficient_scope` for a key of the member without the `manage` scope; `member_not_active` for the
    admin of a member that is not active; NotPermitted for anyone else (another member's people, the
    member's analysts and stewards, consortium staff other than officers)."""
    if can(actor, Capability.DECIDE_MEMBERSHIP):
        return
    if actor.member_id is None or actor.member_id != member.pk:
        raise NotPermitted("Only a consortium officer or the member's admin may change its contact details.")
    refusal = "Only an active member's admin may change its contact details."
    require(actor, Capability.EDIT_OWN_CONTACT, refusal=refusal)


def member_may_change_contact(*, actor: User, member: Member) -> bool:
    """Whether member_contact_change would take `actor`'s new contact details for `member`, the details
    aside: for a page deciding whether to offer the form. Raises nothing."""
    try:
        member_contact_change_check(actor, member)
    except ServiceError:
        return False
    return True


def member_contact_change(
    *,
    actor: User,
    member: Member,
    contact_name: str | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
) -> Member:
    """Change the contact details of `member` (a field left None keeps its value) and record
    `member.contact_changed`, naming the fields that changed but not their values: they are personal
    information, and the ledger is append-only and exported, so a value written there could never be
    erased (as _member_payload leaves them out of every entry). Nothing is recorded or written when no
    value changes.

    Only the contact details: the legal name, credit code, size class, sector, region and clusters decide
    eligibility and credit, and stay as the member was admitted (no service changes them).

    Raises as member_contact_change_check (NotPermitted), and ValidationFailed naming the field,
    as member_apply checks them: `required` (an empty name or e-mail, naming each), `too_long` (naming
    each), `invalid_email`, `hidden_character` (consortium.text). Nothing is written when it raises.
    """
    member_contact_change_check(actor, member)
    given = {"contact_name": contact_name, "contact_email": contact_email, "contact_phone": contact_phone}
    values = {field: value.strip() for field, value in given.items() if value is not None}
    _require_each(values, {field: message for field, message in _CONTACT_REQUIRED.items() if field in values})
    _refuse_too_long(Member, values)
    refuse_hidden_characters(**values)
    if "contact_email" in values:
        _check_email("contact_email", values["contact_email"])
    with transaction.atomic():
        locked = Member.objects.select_for_update(no_key=True).get(pk=member.pk)
        changed = sorted(field for field, value in values.items() if getattr(locked, field) != value)
        if not changed:
            return locked
        for field in changed:
            setattr(locked, field, values[field])
        locked.save(update_fields=changed)
        ledger_append(
            kind="member.contact_changed",
            actor=actor,
            subject_type="member",
            subject_id=locked.pk,
            members=[locked.pk],
            payload=_member_payload(locked, fields=changed),
            api_key=acting_api_key(actor),
        )
    return locked
