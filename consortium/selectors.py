"""Permission-checked reads of members, people and API keys: what the actor may not see is not found."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

from consortium.errors import NotFound, ValidationFailed
from consortium.models import Member, MemberAPIKey, MemberRole, MemberStatus, MemberStatusChange, User
from consortium.roles import Capability, capabilities


def member_list_for(*, user: User | Any, api_key: Any = None) -> QuerySet[Member]:
    """Members `user` may see: all for consortium staff; active ones plus their own for an active member's
    people; and always the members whose latest application they made themselves (so an applicant can
    follow the decision). A declined firm's record reopened by another application (services.member_apply)
    is that applicant's to follow, no longer the earlier one's."""
    caps = capabilities(user, api_key)
    members = Member.objects.all()
    if Capability.VIEW_ALL_MEMBERS in caps:
        return members
    if not getattr(user, "is_authenticated", False):
        return members.none()
    applications = MemberStatusChange.objects.filter(to_status=MemberStatus.APPLIED)
    latest = applications.filter(member=OuterRef("member")).order_by("-at", "-id").values("id")[:1]
    visible = Q(pk__in=applications.filter(actor=user, id=Subquery(latest)).values("member"))
    if Capability.VIEW_OWN_MEMBER in caps:
        visible |= Q(status=MemberStatus.ACTIVE)
    if user.member_id is not None and user.is_active:
        # A suspended member's people still see their own record, to learn why they cannot act.
        visible |= Q(pk=user.member_id)
    return members.filter(visible)


def member_search(*, members: QuerySet[Member], text: str) -> QuerySet[Member]:
    """Those of `members` (from member_list_for) whose legal name, credit code or region contains `text`,
    ignoring case and the spaces around it; all of them for blank text. The directory's one search: the
    API's `search` and the portal's search box both ask it, so they find the same members."""
    text = text.strip()
    if not text:
        return members
    return members.filter(
        Q(legal_name__icontains=text) | Q(credit_code__icontains=text) | Q(region__icontains=text)
    )


def member_get_for(*, user: User | Any, pk: Any, api_key: Any = None) -> Member:
    """One member `user` may see (see member_list_for); NotFound otherwise."""
    try:
        return member_list_for(user=user, api_key=api_key).get(pk=int(pk))
    except (Member.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such member.") from None


def member_for_new_person(*, user: User | Any, member_id: Any = None, api_key: Any = None) -> Member:
    """The member a new person joins: the one `member_id` names if `user` may see it (NotFound otherwise),
    or the actor's own member when none is named. Whether the actor may add people to it is the service's
    decision. ValidationFailed(`invalid`) for an id that is not a positive integer (0 is not "my own"),
    ValidationFailed(`required`) when none is named and the actor belongs to no member."""
    if member_id is None:
        if getattr(user, "member_id", None) is None:
            raise ValidationFailed(
                "Name the member the person joins.", code="required", errors={"member": ["Required."]}
            )
        member_id = user.member_id
    elif isinstance(member_id, bool) or not isinstance(member_id, int) or member_id < 1:
        message = "A member id is a positive integer."
        raise ValidationFailed(message, code="invalid", errors={"member": [message]})
    return member_get_for(user=user, pk=member_id, api_key=api_key)


def member_history_for(*, user: User | Any, pk: Any, api_key: Any = None) -> QuerySet[MemberStatusChange]:
    """The lifecycle of a member, oldest first, with each step's actor loaded: for consortium staff and
    the member's own people only, since reasons (why a firm was suspended) are not other firms' business.
    NotFound for anyone else."""
    member = member_get_for(user=user, pk=pk, api_key=api_key)
    if not (getattr(user, "consortium_role", "") or user.member_id == member.pk):
        raise NotFound("No such member history.")
    return member.status_changes.select_related("actor").order_by("at", "id")


def user_list_for(*, user: User | Any, api_key: Any = None) -> QuerySet[User]:
    """People `user` may see: everyone for officers; their own member's people for member admins (and keys
    with the manage scope); otherwise only themselves. Nobody sees another member's people."""
    caps = capabilities(user, api_key)
    users = User.objects.all()
    if Capability.VIEW_ALL_USERS in caps:
        return users
    if not getattr(user, "is_authenticated", False):
        return users.none()
    if Capability.VIEW_OWN_USERS in caps and user.member_id is not None:
        return users.filter(member_id=user.member_id)
    return users.filter(pk=user.pk)


def member_lacks_admin_for(*, user: User | Any, member: Member, api_key: Any = None) -> bool:
    """Whether `member` has no active member admin among the people `user` may see (user_list_for): nobody
    can act for such a member in the portal until its first admin is added. Raises nothing."""
    admins = user_list_for(user=user, api_key=api_key).filter(
        member_id=member.pk, member_role=MemberRole.ADMIN, is_active=True
    )
    return not admins.exists()


def user_get_for(*, user: User | Any, pk: Any, api_key: Any = None) -> User:
    """One person `user` may see (see user_list_for); NotFound otherwise."""
    try:
        return user_list_for(user=user, api_key=api_key).get(pk=int(pk))
    except (User.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such user.") from None


def api_key_list_for(*, user: User | Any, api_key: Any = None) -> QuerySet[MemberAPIKey]:
    """API keys `user` may see: their own member's for its member admins; every key (metadata only) for
    consortium staff, who watch for misuse; none for anyone else, including keys themselves."""
    caps = capabilities(user, api_key)
    keys = MemberAPIKey.objects.select_related("member", "created_by", "revoked_by")
    if Capability.VIEW_ALL_MEMBERS in caps:
        return keys
    if Capability.MANAGE_API_KEYS in caps and user.member_id is not None:
        return keys.filter(member_id=user.member_id)
    return keys.none()


def api_key_get_for(*, user: User | Any, prefix: str, api_key: Any = None) -> MemberAPIKey:
    """One key `user` may see, by its public prefix; NotFound otherwise."""
    try:
        return api_key_list_for(user=user, api_key=api_key).get(prefix=prefix)
    except MemberAPIKey.DoesNotExist:
        raise NotFound("No such API key.") from None
