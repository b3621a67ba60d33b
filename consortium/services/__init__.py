"""Writes for members, people and API keys: each service is one transaction with its ledger entry.

No change without its entry, no entry without its change; a service that raises writes nothing. A
member's row is locked (select_for_update, FOR NO KEY UPDATE) before its state is read, by the lifecycle
decisions and by every change to its people, so two officers deciding at once queue up and the second
sees the first one's result, and the last-admin rule holds when two admins demote each other. Mail that
follows a change (a status notice, a password link) is queued after its commit, never for a change that
rolled back, and a broker refusing it is logged, not the change's error.

Besides the writes, `*_may_*` predicates (member_may_change_contact, user_may_create, user_may_manage,
user_may_send_password_link) tell the portal whether a service would accept an actor, from the same
rules, so it offers only what would work; `*_check` functions (member_transition_check,
member_contact_change_check, user_create_check, user_manage_check, api_key_create_check) raise the
refusal a service gives its actor before it reads any input, so the API refuses a caller who may not act
before checking a body.

The services live in membership, people (members' people), password_links, staff (consortium staff
accounts) and api_keys (shared pieces in _common); this package re-exports them, so callers write
`from consortium import services; services.member_admit(...)`. A test that replaces a name a service
looks up patches the submodule that looks it up, not this package.
"""

from __future__ import annotations

from consortium.services.api_keys import (
    API_KEY_DEFAULT_LIFETIME,
    API_KEY_MAX_LIFETIME,
    api_key_create,
    api_key_create_check,
    api_key_revoke,
)
from consortium.services.membership import (
    MEMBER_CONTACT_FIELDS,
    member_admit,
    member_apply,
    member_contact_change,
    member_contact_change_check,
    member_decline,
    member_may_change_contact,
    member_reinstate,
    member_suspend,
    member_transition_check,
    member_withdraw,
)
from consortium.services.password_links import (
    password_links_request,
    user_may_send_password_link,
    user_send_password_link,
)
from consortium.services.people import (
    user_create,
    user_create_check,
    user_deactivate,
    user_manage_check,
    user_may_create,
    user_may_manage,
    user_set_role,
)
from consortium.services.staff import (
    OFFICER_ADMIN_PERMISSIONS,
    OFFICER_GROUP,
    officers_group,
    staff_user_create,
)

__all__ = [
    "API_KEY_DEFAULT_LIFETIME",
    "API_KEY_MAX_LIFETIME",
    "MEMBER_CONTACT_FIELDS",
    "OFFICER_ADMIN_PERMISSIONS",
    "OFFICER_GROUP",
    "api_key_create",
    "api_key_create_check",
    "api_key_revoke",
    "member_admit",
    "member_apply",
    "member_contact_change",
    "member_contact_change_check",
    "member_decline",
    "member_may_change_contact",
    "member_reinstate",
    "member_suspend",
    "member_transition_check",
    "member_withdraw",
    "officers_group",
    "password_links_request",
    "staff_user_create",
    "user_create",
    "user_create_check",
    "user_deactivate",
    "user_manage_check",
    "user_may_create",
    "user_may_manage",
    "user_may_send_password_link",
    "user_send_password_link",
    "user_set_role",
]
