"""The portal's navigation: which sections of the nav bar and the sub-navigations a user may open."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from consortium.roles import (
    Capability,
    capabilities,
    reads_as_holder,
    reads_grants,
    reads_log,
    reads_own_credit,
)


def nav_sections(request: HttpRequest) -> dict[str, bool]:
    """Every section the pages link to, by name, and whether this user may open it (the pages only hide
    what the views would refuse)."""
    caps = capabilities(request.user)
    # The people of a member that is not active read its own requests, datasets and grants, read-only (why
    # a download or a change is refused), but browse no catalog: their nav offers Requests and no Catalog.
    my_requests = reads_as_holder(request.user, Capability.REQUEST_ACCESS)
    incoming = bool(caps & {Capability.DECIDE_CONFIDENTIAL, Capability.AUDIT}) or reads_as_holder(
        request.user, Capability.DECIDE_REQUESTS
    )
    grants = reads_grants(request.user)
    return {
        "members": bool(caps & {Capability.VIEW_OWN_MEMBER, Capability.VIEW_ALL_MEMBERS}),
        "people": bool(caps & {Capability.VIEW_OWN_USERS, Capability.VIEW_ALL_USERS}),
        "api_keys": Capability.MANAGE_API_KEYS in caps,
        # the exchange: the nav bar's Catalog and Requests (which opens the first of the three after it)
        "catalog": Capability.BROWSE_CATALOG in caps,
        "requests": my_requests or incoming or grants,
        "my_requests": my_requests,
        "incoming": incoming,
        "grants": grants,
        "my_datasets": reads_as_holder(request.user, Capability.MANAGE_DATASETS),
        # credit: a statement for a member's people who may view their firm, and everything for auditors
        "credit": Capability.AUDIT in caps or reads_own_credit(request.user),
        "leaderboard": Capability.AUDIT in caps,
        "credit_flags": Capability.AUDIT in caps,
        "held_mints": Capability.AUDIT in caps,
        # the ledger's checkpoints, keys and status: public to active members and staff, as in the API
        "ledger": reads_log(request.user),
    }


def nav(request: HttpRequest) -> dict[str, dict[str, bool]]:
    """Context processor: `nav` on every page, so the nav bar never depends on a view remembering it."""
    return {"nav": nav_sections(request)}


# The portal page where a holder of each capability uses it (URL names in the `portal` namespace; the own
# member's pages, OWN_MEMBER_PAGES, take its id). A capability missing here has no page of its own.
CAPABILITY_PAGES: dict[Capability, str] = {
    Capability.VIEW_OWN_MEMBER: "portal:member-detail",
    Capability.EDIT_OWN_CONTACT: "portal:member-contact-edit",
    Capability.VIEW_OWN_USERS: "portal:people-list",
    Capability.MANAGE_OWN_USERS: "portal:people-list",
    Capability.MANAGE_API_KEYS: "portal:api-key-list",
    Capability.BROWSE_CATALOG: "portal:catalog",
    Capability.REQUEST_ACCESS: "portal:catalog",
    Capability.MANAGE_DATASETS: "portal:my-datasets",
    Capability.DECIDE_REQUESTS: "portal:incoming-requests",
    Capability.VIEW_ALL_MEMBERS: "portal:member-list",
    Capability.VIEW_ALL_USERS: "portal:people-list",
    Capability.DECIDE_MEMBERSHIP: "portal:member-list",
    Capability.DECIDE_CONFIDENTIAL: "portal:incoming-requests",
    Capability.AUDIT: "portal:credit-leaderboard",
    Capability.REVOKE_ANY_GRANT: "portal:grant-list",
    Capability.RESOLVE_HELD_MINTS: "portal:credit-held-mints",
}

OWN_MEMBER_PAGES = frozenset({"portal:member-detail", "portal:member-contact-edit"})


@dataclass(frozen=True)
class Waiting:
    """Something waiting for the user: what (`label`, with `count` items) and the page to do it on."""

    label: str
    count: int
    url: str


WaitingSource = Callable[[Any], list[Waiting]]
_WAITING_SOURCES: list[WaitingSource] = []


def register_waiting(source: WaitingSource) -> None:
    """Add a source of what waits for a user on the home page. Apps that depend on consortium register theirs
    in their AppConfig.ready, so the home page lists them without consortium importing them."""
    if source not in _WAITING_SOURCES:
        _WAITING_SOURCES.append(source)


def waiting_for(user: Any) -> list[Waiting]:
    """What waits for `user` from every registered source, in registration order; items with a count of 0
    are left out."""
    return [item for source in _WAITING_SOURCES for item in source(user) if item.count]
