"""Services for members' API keys: creation (each key with its own system user) and revocation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from consortium.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from consortium.models import APIKeyScope, MemberAPIKey, MemberRole, User
from consortium.roles import Capability, can
from consortium.services._common import _require
from consortium.text import refuse_hidden_characters
from ledger.canonical import format_time
from ledger.services import ledger_append

API_KEY_DEFAULT_LIFETIME = timedelta(days=90)
API_KEY_MAX_LIFETIME = timedelta(days=366)  # "at most a year ahead", with a day's slack for leap years


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
