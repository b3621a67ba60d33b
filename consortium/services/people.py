"""Writes for members, people and API keys: each service is one transaction with its ledger entry."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from consortium import credit_code as credit_codes
from consortium import notifications
from consortium.actors import acting_api_key
from consortium.errors import Conflict, NotFound, NotPermitted, ServiceError, ValidationFailed
from consortium.models import (
    APIKeyScope,
    Cluster,
    ConsortiumRole,
    Member,
    MemberAPIKey,
    MemberRole,
    MemberStatus,
    MemberStatusChange,
    Sector,
    SizeClass,
    User,
)
from consortium.passwords import (
    PasswordLinkAddressThrottle,
    may_set_password,
    normalized_address,
    people_who_may_set_password,
)
from consortium.roles import CAPABILITY_SCOPE, PERSON_ROLES, Capability, can, capabilities_beyond, require
from consortium.tasks import send_member_status_notice_task, send_password_link_task
from consortium.text import refuse_hidden_characters
from consortium.transactions import CommitWatch
from ledger.canonical import format_time
from ledger.services import ledger_append

logger = logging.getLogger(__name__)

API_KEY_DEFAULT_LIFETIME = timedelta(days=90)
API_KEY_MAX_LIFETIME = timedelta(days=366)  # "at most a year ahead", with a day's slack for leap years

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


def _member_payload(member: Member, **extra: Any) -> dict[str, Any]:
    return {
        "credit_code": member.credit_code,
        "legal_name": member.legal_name,
        "size_class": member.size_class,
        "sector": member.sector,
        **extra,
    }


def _require(field: str, value: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(message, code="required", errors={field: [message]})
    return value


def _check_email(field: str, value: str) -> None:
    try:
        validate_email(value)
    except DjangoValidationError:
        message = f"'{value}' is not a valid e-mail address."
        raise ValidationFailed(message, code="invalid_email", errors={field: [message]}) from None


# --- Members ------------------------------------------------------------------------------------------


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
    `unknown_size_class`, `unknown_cluster`, `required`, `invalid_email`, `hidden_character` (a name
    holding a control or bidi character: consortium.text).
    Nothing is written when it raises.
    """
    legal_name = _require("legal_name", legal_name, "The legal name is required.")
    region = _require("region", region, "The region is required.")
    contact_name = _require("contact_name", contact_name, "A contact person is required.")
    contact_email = _require("contact_email", contact_email, "A contact e-mail is required.")
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


def _member_transition(*, action: str, member: Member, actor: User, reason: str) -> Member:
    """Take lifecycle step `action` (_TRANSITIONS) with its history row and ledger entry; once committed,
    the member's contact is e-mailed the decision (consortium.notifications)."""
    sources, target, kind, reason_required = _TRANSITIONS[action]
    reason = (reason or "").strip()
    member_transition_check(actor, member, action=action)
    if reason_required and not reason:
        message = f"A reason is required to {action} a member; it is recorded in the member's history."
        raise ValidationFailed(message, code="reason_required", errors={"reason": [message]})
    with transaction.atomic():
        # The row lock makes two officers' decisions queue up; the second sees the first one's state.
        locked = Member.objects.select_for_update(no_key=True).get(pk=member.pk)
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


def member_admit(*, member: Member, actor: User, reason: str = "") -> Member:
    """applied -> active. Officers only (NotPermitted); Conflict(illegal_transition) from any other state."""
    return _member_transition(action="admit", member=member, actor=actor, reason=reason)


def member_decline(*, member: Member, actor: User, reason: str) -> Member:
    """applied -> declined, with a reason (ValidationFailed without). Officers only."""
    return _member_transition(action="decline", member=member, actor=actor, reason=reason)


def member_suspend(*, member: Member, actor: User, reason: str) -> Member:
    """active -> suspended, with a reason. Officers only; the member's users and keys stop working."""
    return _member_transition(action="suspend", member=member, actor=actor, reason=reason)


def member_reinstate(*, member: Member, actor: User, reason: str) -> Member:
    """suspended -> active, with a reason. Officers only."""
    return _member_transition(action="reinstate", member=member, actor=actor, reason=reason)


def member_withdraw(*, member: Member, actor: User, reason: str) -> Member:
    """active|suspended -> withdrawn, with a reason. Officers, or the member's own member admin."""
    return _member_transition(action="withdraw", member=member, actor=actor, reason=reason)


# The parts of a member's record its own admin keeps up to date (member_contact_change).
MEMBER_CONTACT_FIELDS = ("contact_name", "contact_email", "contact_phone")
_CONTACT_REQUIRED = {
    "contact_name": "A contact person is required.",
    "contact_email": "A contact e-mail is required.",
}


def member_contact_change_check(actor: User, member: Member) -> None:
    """Raise unless `actor` may change `member`'s contact details (member_contact_change), before the new
    details are read: a consortium officer for any member; the member's own admin while the member is
    active, or a key of it with the `manage` scope. NotFound for another member's people (never confirmed
    to exist); NotPermitted `insufficient_scope` for a key of the member without the `manage` scope;
    NotPermitted for anyone else (a suspended or withdrawn member's admin, its analysts and stewards,
    consortium staff other than officers)."""
    if can(actor, Capability.DECIDE_MEMBERSHIP):
        return
    if actor.member_id is None:
        raise NotPermitted("Only a consortium officer or the member's admin may change its contact details.")
    if actor.member_id != member.pk:
        raise NotFound("No such member.")
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

    Raises as member_contact_change_check (NotFound, NotPermitted), and ValidationFailed naming the field,
    as member_apply checks them: `required` (an empty name or e-mail), `invalid_email`, `hidden_character`
    (consortium.text). Nothing is written when it raises.
    """
    member_contact_change_check(actor, member)
    given = {"contact_name": contact_name, "contact_email": contact_email, "contact_phone": contact_phone}
    values = {field: value.strip() for field, value in given.items() if value is not None}
    for field, message in _CONTACT_REQUIRED.items():
        if field in values:
            _require(field, values[field], message)
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


# --- People -------------------------------------------------------------------------------------------


def _check_role(role: str) -> str:
    if role not in PERSON_ROLES:
        message = f"'{role}' is not a member role; use one of {', '.join(sorted(PERSON_ROLES))}."
        raise ValidationFailed(message, code="unknown_role", errors={"role": [message]})
    return role


def _check_role_within_key(actor: User, role: str) -> None:
    """Raise NotPermitted(role_beyond_key_scopes) if `actor` is an API key's user and a person in `role`
    could do what the key's scopes do not allow. People act in the portal; a key that gave out such a role
    would have widened what its member's partner system can reach, which its scopes are meant to bound."""
    if actor.member_role != MemberRole.SYSTEM:
        return
    beyond = capabilities_beyond(actor, role)
    if not beyond:
        return
    scopes = {CAPABILITY_SCOPE.get(capability) for capability in beyond}
    if None in scopes:
        message = f"No API key may make a person {role}: the role manages API keys, which no scope allows."
    else:
        needed = ", ".join(sorted(scope for scope in scopes if scope))
        message = (
            f"This API key may not make a person {role}: the role may do what only the {needed} scope "
            "allows, and the key does not have it."
        )
    raise NotPermitted(message, code="role_beyond_key_scopes")


def _check_no_password_from_key(actor: User, password: str | None) -> None:
    """Raise ValidationFailed(password_not_allowed) if an API key's user sets a password: whoever chooses
    a person's password can log in as that person, in the portal, with the person's role."""
    if password and actor.member_role == MemberRole.SYSTEM:
        message = (
            "An API key may not set a person's password: whoever knows it could log in as them. "
            "Leave the password out; the person gets no usable password."
        )
        raise ValidationFailed(message, code="password_not_allowed", errors={"password": [message]})


def _username_taken(username: str) -> bool:
    return User.objects.filter(username__iexact=username).exists()


def _duplicate_username(username: str) -> ValidationFailed:
    message = f"The username '{username}' is taken."
    return ValidationFailed(message, code="duplicate_username", errors={"username": [message]})


def _check_new_account(*, username: str, email: str, password: str | None, **attributes: Any) -> None:
    username = (username or "").strip()
    if not username:
        raise ValidationFailed("A username is required.", code="required", errors={"username": ["Required."]})
    refuse_hidden_characters(
        username=username,
        email=email,
        first_name=attributes.get("first_name") or "",
        last_name=attributes.get("last_name") or "",
    )
    if _username_taken(username):
        raise _duplicate_username(username)
    _check_email("email", email)
    if password:
        from django.contrib.auth.password_validation import validate_password

        try:
            validate_password(password, User(username=username, email=email, **attributes))
        except DjangoValidationError as exc:
            messages = list(exc.messages)
            raise ValidationFailed(messages[0], code="weak_password", errors={"password": messages}) from None


def _managed_user_scope(actor: User, target_member_id: int | None, *, unmanaged_target: bool = False) -> None:
    """Raise unless `actor` may manage people of member `target_member_id` (NotFound hides other members).

    An API key of that member whose scopes are all that withhold it is told so (roles.require:
    NotPermitted `insufficient_scope`, naming the `manage` scope), not that it is no admin; a person keeps
    the role's words. Not so for an `unmanaged_target` (a partner system's user, which is managed nowhere
    here), since no scope would let a key change it."""
    if can(actor, Capability.VIEW_ALL_USERS):
        return
    if actor.member_id is None:
        # Consortium staff other than officers see every member but manage nobody's people.
        raise NotPermitted("Only a member's admin or a consortium officer may manage its people.")
    if actor.member_id != target_member_id:
        raise NotFound("No such user.")
    refusal = "Only the member's admin may manage its people."
    if unmanaged_target and not can(actor, Capability.MANAGE_OWN_USERS):
        raise NotPermitted(refusal)
    require(actor, Capability.MANAGE_OWN_USERS, refusal=refusal)


def user_create_check(actor: User) -> None:
    """Raise unless `actor` may add people to some member (user_create's refusal of the actor, before the
    person's details): its own member's admin, a key of it with the `manage` scope (NotPermitted
    `insufficient_scope` for one without), or a consortium officer. Which member is user_create's to check."""
    _managed_user_scope(actor, actor.member_id)


def _check_member_takes_people(member: Member) -> None:
    if member.status in (MemberStatus.WITHDRAWN, MemberStatus.DECLINED):
        raise Conflict(
            f"The member is {member.status}.", code="member_not_active", current_state=member.status
        )


def user_may_create(*, actor: User, member: Member) -> bool:
    """Whether user_create would add a person to `member` at `actor`'s request, the person's own details
    aside (name, address, role, password): the same rule of who may add people to which member (their
    admin, or a consortium officer to any) and which members take people, for a page deciding whether to
    offer it. Raises nothing."""
    try:
        _managed_user_scope(actor, member.pk)
        _check_member_takes_people(member)
    except ServiceError:
        return False
    return True


def user_create(
    *,
    actor: User,
    member: Member,
    username: str,
    email: str,
    role: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Add a person to `member` with `role`. Member admins add to their own member only; officers to any.

    Through an API key (the actor is its system user) the person gets no password and no role beyond the
    key's scopes, so the key cannot act through them.

    Raises NotFound (another member, never confirmed to exist), NotPermitted (`insufficient_scope` for a
    key without the `manage` scope, `role_beyond_key_scopes`, or not a manager of the member's people),
    ValidationFailed (`unknown_role`, `duplicate_username`, `invalid_email`, `weak_password`,
    `password_not_allowed`, `hidden_character` for a name holding a control or bidi character:
    consortium.text),
    Conflict(member_not_active) for a member that is withdrawn or declined.
    """
    _managed_user_scope(actor, member.pk)
    role = _check_role(role)
    _check_role_within_key(actor, role)
    _check_no_password_from_key(actor, password)
    _check_member_takes_people(member)
    with transaction.atomic():
        # Again on the member's locked row, as every people change and the lifecycle transitions lock it:
        # a withdrawal or decline that committed since `member` was read wins.
        _check_member_takes_people(Member.objects.select_for_update(no_key=True).get(pk=member.pk))
        _check_new_account(
            username=username, email=email, password=password, first_name=first_name, last_name=last_name
        )
        user = User(
            username=username.strip(),
            email=email,
            first_name=first_name,
            last_name=last_name,
            member=member,
            member_role=role,
        )
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        try:
            user.save()
        except IntegrityError:
            # Someone took the name between our check and our insert; the unique constraint decided.
            raise _duplicate_username(user.username) from None
        user.groups.add(member.group)
        ledger_append(
            kind="member.user_added",
            actor=actor,
            subject_type="user",
            subject_id=user.pk,
            members=[member.pk],
            payload={"username": user.username, "role": role},
            api_key=acting_api_key(actor),
        )
    return user


def _last_active_admin(user: User) -> bool:
    return (
        user.member_role == MemberRole.ADMIN
        and user.member_id is not None  # always, for an admin (user_member_role_iff_member)
        and user.is_active
        and not User.objects.filter(member_id=user.member_id, member_role=MemberRole.ADMIN, is_active=True)
        .exclude(pk=user.pk)
        .exists()
    )


def _managed_member_id(actor: User, user: User) -> int:
    """The id of `user`'s member, if `actor` may change `user`. Raises NotFound (another member's person,
    for a member admin), NotPermitted (no manager of the member's people; a staff account or a partner
    system's user)."""
    # Staff accounts are managed in the admin; a key's user follows its key.
    unmanaged = user.member_id is None or user.member_role == MemberRole.SYSTEM
    _managed_user_scope(actor, user.member_id, unmanaged_target=unmanaged)
    if unmanaged or user.member_id is None:  # the second for mypy: `unmanaged` covers it
        raise NotPermitted("This account is not managed here.")
    _check_person_within_key(actor, user)
    return user.member_id


def _check_person_within_key(actor: User, person: User) -> None:
    """Raise NotPermitted(role_beyond_key_scopes) if `actor` is an API key's user and `person` holds a role
    no key may give (member admin: it manages API keys, which no scope allows). As no key makes anyone an
    admin (_check_role_within_key), none demotes or deactivates one: a partner system's key could otherwise
    remove, for good, every admin but the last, the people who would revoke it."""
    if actor.member_role != MemberRole.SYSTEM:
        return
    beyond = capabilities_beyond(actor, person.member_role)
    if any(CAPABILITY_SCOPE.get(capability) is None for capability in beyond):
        raise NotPermitted(
            f"No API key may change or deactivate a person who is {person.member_role}: the role manages API "
            "keys, which no scope allows. A member admin does it in the portal.",
            code="role_beyond_key_scopes",
        )


def user_manage_check(actor: User, user: User) -> None:
    """Raise unless `actor` may change `user` (user_set_role, user_deactivate), before the change itself is
    read: NotFound for another member's person, NotPermitted as _managed_member_id."""
    _managed_member_id(actor, user)


def user_may_manage(*, actor: User, user: User) -> bool:
    """Whether `actor` may change `user` with user_set_role and user_deactivate: the scope check those
    services make (their member's admin, or a consortium officer for any member's person; never a staff
    account or a partner system's user), for a page deciding whether to offer the controls. The services'
    own refusals of one change (the last active admin, a role beyond a key's scopes) are not foreseen here.
    Raises nothing."""
    try:
        _managed_member_id(actor, user)
    except ServiceError:
        return False
    return True


def _lock_managed_user(actor: User, user: User) -> tuple[User, int]:
    """The person locked for a change, and the id of their member (whose row is locked too)."""
    member_id = _managed_member_id(actor, user)
    # Locking only the target lets two admins demote each other at once, each seeing the other still an
    # admin. The member row serialises every people change of one member, so the last-admin check holds.
    Member.objects.select_for_update(no_key=True).only("pk").get(pk=member_id)
    return User.objects.select_for_update(no_key=True).get(pk=user.pk), member_id


def user_set_role(*, actor: User, user: User, role: str) -> User:
    """Change a person's role in their member. Conflict(last_admin) if it would leave no active admin;
    NotPermitted(role_beyond_key_scopes) through an API key whose scopes do not cover the role."""
    role = _check_role(role)
    _check_role_within_key(actor, role)
    with transaction.atomic():
        locked, member_id = _lock_managed_user(actor, user)
        if locked.member_role == role:
            return locked
        if role != MemberRole.ADMIN and _last_active_admin(locked):
            raise Conflict(
                "This is the member's last active admin; appoint another admin first.",
                code="last_admin",
                current_state=locked.member_role,
            )
        previous = locked.member_role
        locked.member_role = role
        locked.save(update_fields=["member_role"])
        ledger_append(
            kind="member.user_role_changed",
            actor=actor,
            subject_type="user",
            subject_id=locked.pk,
            members=[member_id],
            payload={"username": locked.username, "from": previous, "to": role},
        )
    return locked


def user_deactivate(*, actor: User, user: User) -> User:
    """Deactivate a person (they can no longer log in). Conflict(last_admin) for the last active admin."""
    with transaction.atomic():
        locked, member_id = _lock_managed_user(actor, user)
        if not locked.is_active:
            return locked
        if _last_active_admin(locked):
            raise Conflict(
                "This is the member's last active admin; appoint another admin first.",
                code="last_admin",
                current_state="active",
            )
        _deactivate(locked, actor=actor, member_id=member_id)
    return locked


def _deactivate(person: User, *, actor: User | None, member_id: int) -> None:
    """Deactivate `person` (locked) of member `member_id` with its `member.user_deactivated` entry, inside
    the caller's transaction."""
    person.is_active = False
    person.save(update_fields=["is_active"])
    ledger_append(
        kind="member.user_deactivated",
        actor=actor,
        subject_type="user",
        subject_id=person.pk,
        members=[member_id],
        payload={"username": person.username, "role": person.member_role},
    )


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
                raise Conflict("The member is not active.", code="member_not_active")
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


OFFICER_GROUP = "consortium:officers"
# What officers may do in the Django admin; lifecycle changes still go through the services' rules.
OFFICER_ADMIN_PERMISSIONS = [
    "view_member",
    "change_member",
    "view_memberstatuschange",
    "view_cluster",
    "add_cluster",
    "change_cluster",
    "view_user",
    "change_user",
    "view_memberapikey",
]


def officers_group() -> Group:
    """The group holding officers' Django-admin permissions (created on first use, idempotent)."""
    from django.contrib.auth.models import Permission

    group, _ = Group.objects.get_or_create(name=OFFICER_GROUP)
    wanted = Permission.objects.filter(
        content_type__app_label="consortium", codename__in=OFFICER_ADMIN_PERMISSIONS
    )
    group.permissions.add(*wanted)
    return group


def staff_user_create(
    *,
    username: str,
    email: str,
    consortium_role: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    actor: User | None = None,
) -> User:
    """Create a consortium staff account (officer, security officer, auditor); officers get Django admin.

    For the seed command and the admin; raises ValidationFailed for an unknown role or a taken username.
    """
    if consortium_role not in ConsortiumRole.values:
        message = f"'{consortium_role}' is not a consortium role."
        raise ValidationFailed(message, code="unknown_role", errors={"consortium_role": [message]})
    _check_new_account(
        username=username, email=email, password=password, first_name=first_name, last_name=last_name
    )
    with transaction.atomic():
        user = User(
            username=username.strip(),
            email=email,
            first_name=first_name,
            last_name=last_name,
            consortium_role=consortium_role,
            # The Django admin is the officers' back office; other staff use the portal and API. Not
            # superusers: a superuser passes every object-permission check, which would bypass the policies.
            is_staff=consortium_role == ConsortiumRole.OFFICER,
        )
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        try:
            user.save()
        except IntegrityError:
            # Someone took the name between our check and our insert; the unique constraint decided.
            raise _duplicate_username(user.username) from None
        if consortium_role == ConsortiumRole.OFFICER:
            user.groups.add(officers_group())
        ledger_append(
            kind="consortium.staff_added",
            actor=actor,
            subject_type="user",
            subject_id=user.pk,
            payload={"username": user.username, "role": consortium_role},
        )
    return user


# --- API keys -----------------------------------------------------------------------------------------


def api_key_create_check(actor: User) -> None:
    """Raise NotPermitted unless `actor` may create API keys: a member admin of an active member. No key
    may (no scope allows it), so a key is refused as a person without the role is."""
    if not can(actor, Capability.MANAGE_API_KEYS) or actor.member_id is None:  # can() requires one anyway
        raise NotPermitted("Only a member admin of an active member may create API keys.")


def api_key_create(
    *, actor: User, name: str, scopes: Iterable[str], expires_at: datetime | None = None
) -> tuple[MemberAPIKey, str]:
    """Create a key for the actor's member and return it with the raw key, which is never available again.

    Only a member admin of an active member (NotPermitted otherwise). Scopes: a non-empty subset of
    APIKeyScope; expiry in the future and at most a year ahead (default 90 days); a name without control
    or bidi characters (consortium.text). The key acts through its own system user, which is in the
    member's group. Only the key's hash is stored.
    """
    api_key_create_check(actor)
    member = actor.member
    assert member is not None  # refused above otherwise
    name = _require("name", name, "A name for the key is required.")
    refuse_hidden_characters(name=name)
    if len(name) > 50:
        raise ValidationFailed(
            "The name is too long.", code="invalid", errors={"name": ["At most 50 characters."]}
        )
    scope_list = sorted(set(scopes or ()))
    unknown = [scope for scope in scope_list if scope not in APIKeyScope.values]
    if not scope_list or unknown:
        message = (
            f"Unknown scope: {', '.join(unknown)}." if unknown else "Choose at least one scope."
        ) + f" Scopes are {', '.join(APIKeyScope.values)}."
        raise ValidationFailed(message, code="invalid_scopes", errors={"scopes": [message]})
    now = timezone.now()
    if expires_at is None:
        expires_at = now + API_KEY_DEFAULT_LIFETIME
    if timezone.is_naive(expires_at):
        raise ValidationFailed(
            "The expiry must include a time zone.",
            code="invalid_expiry",
            errors={"expires_at": ["No time zone."]},
        )
    if expires_at <= now or expires_at > now + API_KEY_MAX_LIFETIME:
        message = "The expiry must be in the future and at most one year ahead."
        raise ValidationFailed(message, code="invalid_expiry", errors={"expires_at": [message]})
    with transaction.atomic():
        key = MemberAPIKey(
            name=name, member=member, scopes=scope_list, created_by=actor, expiry_date=expires_at
        )
        raw_key = MemberAPIKey.objects.assign_key(key)
        system_user = User(
            username=f"apikey-{key.prefix}",
            member=member,
            member_role=MemberRole.SYSTEM,
            first_name=name[:150],
        )
        system_user.set_unusable_password()
        system_user.save()
        system_user.groups.add(member.group)
        key.system_user = system_user
        key.save()
        ledger_append(
            kind="member.api_key_created",
            actor=actor,
            subject_type="api_key",
            subject_id=key.prefix,
            members=[member.pk],
            payload={
                "prefix": key.prefix,
                "name": name,
                "scopes": scope_list,
                "expires_at": format_time(expires_at),
            },
        )
    return key, raw_key


def api_key_revoke(*, actor: User, key: MemberAPIKey) -> MemberAPIKey:
    """Revoke a key for good and deactivate its system user. Its own member's admin only.

    NotFound for another member's key; Conflict(already_revoked) if it is already revoked.
    """
    if actor.member_id != key.member_id:
        if can(actor, Capability.VIEW_ALL_MEMBERS):
            raise NotPermitted("Only the key's own member admin may revoke it.")
        raise NotFound("No such API key.")
    if not can(actor, Capability.MANAGE_API_KEYS):
        raise NotPermitted("Only a member admin of an active member may revoke API keys.")
    with transaction.atomic():
        locked = MemberAPIKey.objects.select_for_update(no_key=True).get(pk=key.pk)
        if locked.revoked:
            raise Conflict("The key is already revoked.", code="already_revoked", current_state="revoked")
        now = timezone.now()
        locked.revoked = True
        locked.revoked_at = now
        locked.revoked_by = actor
        locked.save(update_fields=["revoked", "revoked_at", "revoked_by"])
        User.objects.filter(pk=locked.system_user_id).update(is_active=False)
        ledger_append(
            kind="member.api_key_revoked",
            actor=actor,
            subject_type="api_key",
            subject_id=locked.prefix,
            members=[locked.member_id],
            payload={"prefix": locked.prefix, "name": locked.name},
        )
    return locked
