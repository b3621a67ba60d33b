"""Services for consortium staff accounts, and the group of the officers' Django-admin permissions."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from consortium.errors import ValidationFailed
from consortium.models import ConsortiumRole, User
from consortium.services.people import _check_new_account, _save_new_account
from ledger.services import ledger_append

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
        user = _save_new_account(
            username=username,
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            consortium_role=consortium_role,
            # The Django admin is the officers' back office; other staff use the portal and API. Not
            # superusers: a superuser passes every object-permission check, which would bypass the policies.
            is_staff=consortium_role == ConsortiumRole.OFFICER,
        )
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
