"""The portal's navigation: which sections of the nav bar and the sub-navigations a user may open."""

from __future__ import annotations

from django.http import HttpRequest

from consortium.roles import GRANT_READERS, Capability, capabilities, reads_own_credit


def nav_sections(request: HttpRequest) -> dict[str, bool]:
    """Every section the pages link to, by name, and whether this user may open it (the pages only hide
    what the views would refuse)."""
    caps = capabilities(request.user)
    return {
        "members": bool(caps & {Capability.VIEW_OWN_MEMBER, Capability.VIEW_ALL_MEMBERS}),
        "people": bool(caps & {Capability.VIEW_OWN_USERS, Capability.VIEW_ALL_USERS}),
        "api_keys": Capability.MANAGE_API_KEYS in caps,
        # the exchange
        "my_requests": Capability.REQUEST_ACCESS in caps,
        "incoming": bool(
            caps & {Capability.DECIDE_REQUESTS, Capability.DECIDE_CONFIDENTIAL, Capability.AUDIT}
        ),
        "grants": bool(caps & GRANT_READERS),
        "my_datasets": Capability.MANAGE_DATASETS in caps,
        # credit: a statement for a member's people who may view their firm, and everything for auditors
        "credit": Capability.AUDIT in caps or reads_own_credit(request.user),
        "leaderboard": Capability.AUDIT in caps,
    }


def nav(request: HttpRequest) -> dict[str, dict[str, bool]]:
    """Context processor: `nav` on every page, so the nav bar never depends on a view remembering it."""
    return {"nav": nav_sections(request)}
