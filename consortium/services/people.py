"""Services for members' people: adding them, their roles, deactivation; the checks new accounts pass."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from consortium.actors import acting_api_key
from consortium.errors import Conflict, NotFound, NotPermitted, ServiceError, ValidationFailed
from consortium.member_status import not_active_detail
from consortium.models import Member, MemberRole, MemberStatus, User
from consortium.roles import CAPABILITY_SCOPE, PERSON_ROLES, Capability, can, capabilities_beyond, require
from consortium.services._common import _check_email, _refuse_too_long, _require_each
from consortium.text import refuse_hidden_characters
from ledger.services import ledger_append

# What a new account must give, each with what a missing or blank one is told.
_ACCOUNT_REQUIRED = {"username": "A username is required.", "email": "An e-mail address is required."}
_ROLE_REQUIRED = f"A role is required: one of {', '.join(sorted(PERSON_ROLES))}."


def _check_role(role: str) -> str:
    _require_each({"role": role}, {"role": _ROLE_REQUIRED})
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


def _save_new_account(*, username: str, password: str | None, **attributes: Any) -> User:
    """Insert a new account that _check_new_account passed, with its password (none usable without one);
    a username taken meanwhile is ValidationFailed(duplicate_username), as the check would have said."""
    user = User(username=username.strip(), **attributes)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        user.save()
    except IntegrityError:
        # Someone took the name between our check and our insert; the unique constraint decided.
        raise _duplicate_username(user.username) from None
    return user


def _check_new_account(*, username: str, email: str, password: str | None, **attributes: Any) -> None:
    _require_each({"username": username, "email": email}, _ACCOUNT_REQUIRED)
    username = username.strip()
    names = {"first_name": attributes.get("first_name"), "last_name": attributes.get("last_name")}
    _refuse_too_long(User, {"username": username, "email": email, **names})
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
            not_active_detail(member.status, "no person is added to it"),
            code="member_not_active",
            current_state=member.status,
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
    ValidationFailed (`required`, naming each of the username, e-mail and role missing or blank;
    `too_long`, naming each of the username, e-mail and names longer than its column takes;
    `unknown_role`, `duplicate_username`, `invalid_email`, `weak_password`,
    `password_not_allowed`, `hidden_character` for a name holding a control or bidi character:
    consortium.text),
    Conflict(member_not_active) for a member that is withdrawn or declined.
    """
    _managed_user_scope(actor, member.pk)
    _require_each(
        {"username": username, "email": email, "role": role}, {**_ACCOUNT_REQUIRED, "role": _ROLE_REQUIRED}
    )
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
        user = _save_new_account(
            username=username,
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            member=member,
            member_role=role,
        )
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
    """Change a person's role in their member. Conflict(last_admin) if it would leave no active admin,
    Conflict(user_inactive) for a deactivated person (whose role is what it was when they left);
    NotPermitted(role_beyond_key_scopes) through an API key whose scopes do not cover the role;
    ValidationFailed `required` for a blank role, `unknown_role` for one that is no member role."""
    role = _check_role(role)
    _check_role_within_key(actor, role)
    with transaction.atomic():
        locked, member_id = _lock_managed_user(actor, user)
        if not locked.is_active:
            raise Conflict(
                f"{locked.username} is deactivated; a deactivated person's role does not change.",
                code="user_inactive",
                current_state="inactive",
            )
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
