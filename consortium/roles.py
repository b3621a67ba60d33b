"""Who may do what: capabilities of each member and consortium role, and the API-key scope each one needs.

Object-level questions (may this member use that dataset?) belong to exchange.policies; this module answers
only the role question, the same way for a portal session and an API key.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from consortium.errors import NotPermitted
from consortium.member_status import not_active_detail
from consortium.models import APIKeyScope, ConsortiumRole, MemberRole, MemberStatus

if TYPE_CHECKING:
    from consortium.models import User


# The roles a member firm's people hold (a partner system's user, MemberRole.SYSTEM, is no person).
PERSON_ROLES = frozenset({MemberRole.ADMIN, MemberRole.STEWARD, MemberRole.ANALYST})


class Capability(StrEnum):
    VIEW_OWN_MEMBER = "member.view_own"
    EDIT_OWN_MEMBER = "member.edit_own"  # declare and answer affiliations: the member's admins in person
    EDIT_OWN_CONTACT = "member.edit_contact"
    VIEW_OWN_USERS = "member.view_users"
    MANAGE_OWN_USERS = "member.manage_users"
    MANAGE_API_KEYS = "member.manage_api_keys"
    BROWSE_CATALOG = "catalog.browse"
    REQUEST_ACCESS = "access.request"
    MANAGE_DATASETS = "dataset.manage"
    DECIDE_REQUESTS = "access.decide"
    VIEW_ALL_MEMBERS = "consortium.view_members"
    VIEW_ALL_USERS = "consortium.view_users"
    DECIDE_MEMBERSHIP = "consortium.decide_membership"
    DECIDE_CONFIDENTIAL = "consortium.decide_confidential"
    AUDIT = "consortium.audit"
    REVOKE_ANY_GRANT = "consortium.revoke_grant"
    # CREDIT.md: suspicion holds money pending, only an auditor forfeits it. Officers read credit like
    # auditors (AUDIT) but run the epochs themselves, so the release or forfeit of a held mint is not theirs.
    RESOLVE_HELD_MINTS = "credit.resolve_held_mints"


C = Capability
_READ = {C.VIEW_OWN_MEMBER, C.BROWSE_CATALOG}
ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    MemberRole.ANALYST: frozenset(_READ | {C.REQUEST_ACCESS}),
    MemberRole.STEWARD: frozenset(_READ | {C.REQUEST_ACCESS, C.MANAGE_DATASETS, C.DECIDE_REQUESTS}),
    MemberRole.ADMIN: frozenset(
        _READ
        | {
            C.REQUEST_ACCESS,
            C.EDIT_OWN_MEMBER,
            C.EDIT_OWN_CONTACT,
            C.VIEW_OWN_USERS,
            C.MANAGE_OWN_USERS,
            C.MANAGE_API_KEYS,
        }
    ),
    # A partner system may do what its key's scopes allow, as far as a member's roles allow together.
    MemberRole.SYSTEM: frozenset(
        _READ
        | {
            C.REQUEST_ACCESS,
            C.MANAGE_DATASETS,
            C.DECIDE_REQUESTS,
            C.EDIT_OWN_CONTACT,
            C.VIEW_OWN_USERS,
            C.MANAGE_OWN_USERS,
        }
    ),
    ConsortiumRole.OFFICER: frozenset(
        {
            C.VIEW_ALL_MEMBERS,
            C.VIEW_ALL_USERS,
            C.DECIDE_MEMBERSHIP,
            C.BROWSE_CATALOG,
            C.REVOKE_ANY_GRANT,
            C.AUDIT,
        }
    ),
    ConsortiumRole.SECURITY_OFFICER: frozenset({C.VIEW_ALL_MEMBERS, C.BROWSE_CATALOG, C.DECIDE_CONFIDENTIAL}),
    ConsortiumRole.AUDITOR: frozenset({C.VIEW_ALL_MEMBERS, C.BROWSE_CATALOG, C.AUDIT, C.RESOLVE_HELD_MINTS}),
}

# The scope an API key needs for each capability. Managing keys is never delegated to a key.
CAPABILITY_SCOPE: dict[Capability, str | None] = {
    C.VIEW_OWN_MEMBER: APIKeyScope.READ,
    C.BROWSE_CATALOG: APIKeyScope.READ,
    C.REQUEST_ACCESS: APIKeyScope.REQUEST,
    C.MANAGE_DATASETS: APIKeyScope.MANAGE,
    C.DECIDE_REQUESTS: APIKeyScope.MANAGE,
    C.EDIT_OWN_MEMBER: APIKeyScope.MANAGE,
    C.EDIT_OWN_CONTACT: APIKeyScope.MANAGE,
    C.VIEW_OWN_USERS: APIKeyScope.MANAGE,
    C.MANAGE_OWN_USERS: APIKeyScope.MANAGE,
    C.MANAGE_API_KEYS: None,
}


def _role_capabilities(user: User | Any) -> frozenset[Capability]:
    """What `user`'s role allows now, before an API key narrows it to its scopes."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.consortium_role:
        return ROLE_CAPABILITIES.get(user.consortium_role, frozenset())
    member = user.member  # None, without a query, when member_id is None
    if member is None or member.status != MemberStatus.ACTIVE:
        return frozenset()
    return ROLE_CAPABILITIES.get(user.member_role, frozenset())


def _stored_scopes(user: User | Any, api_key: Any) -> list[str]:
    """The scopes a partner system's key was given: `api_key`'s, else those of the key `user` acts by."""
    return list(getattr(api_key, "scopes", None) or getattr(getattr(user, "api_key", None), "scopes", []))


def _key_scopes(user: User | Any, api_key: Any) -> set[str]:
    """The scopes a partner system's key grants, with those they imply."""
    scopes = set(_stored_scopes(user, api_key))
    if scopes & {APIKeyScope.REQUEST, APIKeyScope.MANAGE}:
        # Requesting or managing datasets means seeing them: both imply reading.
        scopes.add(APIKeyScope.READ)
    return scopes


def capabilities(user: User | Any, api_key: Any = None) -> frozenset[Capability]:
    """Everything `user` may do now. Members act only while active; a key narrows to its scopes."""
    granted = _role_capabilities(user)
    if granted and user.member_role == MemberRole.SYSTEM:
        scopes = _key_scopes(user, api_key)
        granted = frozenset(cap for cap in granted if CAPABILITY_SCOPE.get(cap) in scopes)
    return granted


def member_status_withholding(user: User | Any, capability: Capability, api_key: Any = None) -> str | None:
    """The status of `user`'s member when that alone withholds `capability`: `user` is an active person (or
    partner system, its key's scopes covering it) of a member that is not active (applied, suspended,
    withdrawn, declined), and its role would hold the capability were the member active. None when `user`
    holds the capability or lacks it for another reason (its role, a key's scope, consortium staff)."""
    if user is None or not user.is_authenticated or not user.is_active or user.consortium_role:
        return None
    member = user.member  # None, without a query, when member_id is None
    if member is None or member.status == MemberStatus.ACTIVE:
        return None
    if capability not in ROLE_CAPABILITIES.get(user.member_role, frozenset()):
        return None
    if user.member_role == MemberRole.SYSTEM and CAPABILITY_SCOPE.get(capability) not in _key_scopes(
        user, api_key
    ):
        return None
    return str(member.status)


def member_not_active_refusal(
    user: User | Any, capability: Capability, api_key: Any = None
) -> NotPermitted | None:
    """require's refusal when only `user`'s member's status withholds `capability`
    (member_status_withholding): NotPermitted code `member_not_active`, the status as `current_state`.
    None otherwise. Pages that show such a member's records read-only ask it before reading a posted form."""
    status = member_status_withholding(user, capability, api_key)
    if status is None:
        return None
    return NotPermitted(
        not_active_detail(status, "its people may not do this", whose="Your member"),
        code="member_not_active",
        current_state=status,
    )


def reads_as_holder(user: User | Any, capability: Capability, api_key: Any = None) -> bool:
    """Whether `user` reads what holders of `capability` read: it holds it, or only its member's status
    withholds it (member_status_withholding). A member's people keep reading their member's own records
    (its requests, datasets, grants) while it is not active; acting on them stays refused (require)."""
    return can(user, capability, api_key) or member_status_withholding(user, capability, api_key) is not None


def scope_needed(user: User | Any, capability: Capability, api_key: Any = None) -> str | None:
    """The API-key scope `user` lacks for `capability` when that is all that withholds it: `user` is a
    partner system of an active member, which may hold the capability, and its key's scopes do not cover
    it. None when `user` holds the capability or lacks it for another reason (a person's role, a member
    that is not active, a capability no key is given)."""
    if getattr(user, "member_role", None) != MemberRole.SYSTEM or capability not in _role_capabilities(user):
        return None
    scope = CAPABILITY_SCOPE.get(capability)
    return None if scope is None or scope in _key_scopes(user, api_key) else scope


def require(user: User | Any, capability: Capability, api_key: Any = None, *, refusal: str) -> None:
    """Return if `user` holds `capability`; otherwise raise NotPermitted. When the API key's scopes are
    what is missing (scope_needed), the refusal says so: code `insufficient_scope`, the `required_scope`
    and the key's own `key_scopes`, since the role words would blame a membership or a role the partner
    has. When only its member's status withholds it (member_status_withholding), code
    `member_not_active` with the status as `current_state`: the role is right, and the detail says how long
    the status withholds it (consortium.member_status: until admitted, until reinstated, or for good).
    Otherwise NotPermitted(refusal), the caller's words for whom the action is for."""
    if can(user, capability, api_key):
        return
    not_active = member_not_active_refusal(user, capability, api_key)
    if not_active is not None:
        raise not_active
    scope = scope_needed(user, capability, api_key)
    if scope is None:
        raise NotPermitted(refusal)
    held = sorted(_stored_scopes(user, api_key))
    raise NotPermitted(
        f"This API key lacks the '{scope}' scope ({APIKeyScope(scope).label.lower()}), which this needs; "
        f"its scopes are: {', '.join(held) or 'none'}. A member admin can issue a key with that scope.",
        code="insufficient_scope",
        required_scope=scope,
        key_scopes=held,
    )


def capabilities_beyond(user: User | Any, role: str, api_key: Any = None) -> frozenset[Capability]:
    """What a person in `role` could do that `user` (narrowed by its key) may not: the powers `user` would
    hand out, and could use through that person, by giving the role. Empty when the role is within reach."""
    return ROLE_CAPABILITIES.get(role, frozenset()) - capabilities(user, api_key)


def can(user: User | Any, capability: Capability, api_key: Any = None) -> bool:
    """Whether `user` holds `capability` (see `capabilities`)."""
    return capability in capabilities(user, api_key)


def reads_log(user: User | Any) -> bool:
    """Whether `user` may read the ledger's checkpoints, proofs, keys and status: public to the people of
    an active member and to consortium staff (ledger.selectors asks this; entries themselves are filtered
    further there)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.consortium_role:
        return True
    member = user.member  # None, without a query, when member_id is None
    return member is not None and member.status == MemberStatus.ACTIVE


def reads_own_credit(user: User | Any, api_key: Any = None) -> bool:
    """Whether `user` may read its own member's credit (balances, statements): the people of an active
    member who may view it. Auditors and officers read everyone's (Capability.AUDIT)."""
    return (
        user is not None
        and getattr(user, "member_id", None) is not None
        and can(user, Capability.VIEW_OWN_MEMBER, api_key)
    )


# Who may list grants: those who request or decide access, auditors, and the officers who revoke any grant.
GRANT_READERS = frozenset(
    {C.REQUEST_ACCESS, C.DECIDE_REQUESTS, C.DECIDE_CONFIDENTIAL, C.AUDIT, C.REVOKE_ANY_GRANT}
)


def reads_own_member_records(user: User | Any, api_key: Any = None) -> bool:
    """Whether `user` reads its own member's requests, grants and datasets only because its member is not
    active: a person whose role would browse the catalog, of a member that is suspended (or withdrawn,
    ...). They stay readable, as the member's own record does (consortium.selectors.member_list_for), so
    a download, a request or a change under them is refused as `member_not_active`, not hidden as if they
    were gone."""
    return member_status_withholding(user, Capability.BROWSE_CATALOG, api_key) is not None


def reads_grants(user: User | Any, api_key: Any = None) -> bool:
    """Whether `user` may open the list of grants (which grants it shows is the selector's business): those
    holding a GRANT_READERS capability, and the people of a member that is not active (its own grants,
    read-only: reads_own_member_records)."""
    return bool(capabilities(user, api_key) & GRANT_READERS) or reads_own_member_records(user, api_key)
