"""No portal page costs more queries for more rows: every page of the `portal` namespace that answers GET
(each URL name without arguments, and the pages of one object that list something: a member's history, a
dataset's versions and derived datasets, a request's receipts) is opened by every role, in the same world
built with 2 and with 6 units of everything (tests/query_counts.py); each role that may see it must run as
many queries at both sizes. A new page without arguments is checked as it comes; one with arguments fails
until OBJECT_PAGES says which object to open it for, or LEFT_OUT why it lists nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.urls import get_resolver, reverse

from tests.query_counts import (
    LARGE,
    SMALL,
    Visits,
    World,
    assert_same_costs,
    at_scale,
    portal_client_as,
    visit,
)

pytestmark = pytest.mark.django_db

ROLES = ("member_admin", "data_steward", "analyst", "officer", "security_officer", "auditor", "anonymous")
# The object each page of one object is opened for: the one whose lists grow with the units.
OBJECT_PAGES: dict[str, Callable[[World], list[Any]]] = {
    "member-detail": lambda world: [world.own.pk],
    "member-contact-edit": lambda world: [world.own.pk],
    "dataset-detail": lambda world: [world.dataset.pk],
    "request-detail": lambda world: [world.access_request.pk],
}
# The member whose statement an auditor reads (the own member's people may name their own).
QUERIES: dict[str, Callable[[World], dict[str, Any]]] = {
    "credit-statement": lambda world: {"member": world.own.pk},
}
LEFT_OUT = {
    "logout": "answers POST only",
    "requests": "redirects to my-requests, incoming-requests or grant-list, which are checked",
    "apply-thanks": "shows the application this session made, once; otherwise redirects to the form",
    "password-reset-confirm": "one person's form, reached by the link in their e-mail: no rows",
    "member-person-create": "a form for one member: no rows",
    "person-detail": "one person: no rows",
    "grant-detail": "one grant: no rows",
    "person-deactivate": "one person: no rows",
    "person-password-link": "answers POST only",
    "api-key-revoke": "answers POST only",
    "dataset-policy": "answers POST only",
    "dataset-version-upload": "answers POST only",
    "dataset-version-withdraw": "answers POST only",
    "dataset-withdraw": "answers POST only",
    "grant-revoke": "answers POST only",
    "grant-download": "answers POST only",
    "credit-held-mint-resolve": "answers POST only",
}
# Pages that show no more of the world when it grows (forms, one's own account): their cost is compared
# all the same.
NOT_LISTS = {
    "home",
    "login",
    "password-reset",
    "password-reset-done",
    "password-reset-complete",
    "apply",
    "api-key-create",
    "person-create",
    "member-contact-edit",
    "ledger-integrity",  # the latest checkpoint, the tree's figures and the keys, however long the ledger
}


def portal_pages() -> dict[str, bool]:
    """Every URL name of the portal namespace, and whether its URL takes arguments."""
    _prefix, portal = get_resolver().namespace_dict["portal"]
    return {
        name: any(
            params for possibility, *_ in portal.reverse_dict.getlist(name) for _, params in possibility
        )
        for name in portal.reverse_dict
        if isinstance(name, str)
    }


def checked_pages() -> list[str]:
    return sorted(
        name
        for name, takes_arguments in portal_pages().items()
        if name not in LEFT_OUT and (not takes_arguments or name in OBJECT_PAGES)
    )


def test_every_page_is_checked_or_left_out_with_a_reason() -> None:
    pages = portal_pages()
    placed = set(OBJECT_PAGES) | set(LEFT_OUT)
    unplaced = {name for name, takes_arguments in pages.items() if takes_arguments and name not in placed}
    assert not unplaced, f"{unplaced}: open each in OBJECT_PAGES, or leave it out in LEFT_OUT with a reason"
    assert placed | NOT_LISTS <= set(pages)
    assert not set(OBJECT_PAGES) & set(LEFT_OUT)
    assert {"catalog", "member-list", "grant-list", "credit-statement"} <= set(checked_pages())


def _url(world: World, name: str) -> str:
    url = reverse(f"portal:{name}", args=OBJECT_PAGES[name](world) if name in OBJECT_PAGES else None)
    return f"{url}?{urlencode(QUERIES[name](world))}" if name in QUERIES else url


def test_no_page_costs_more_queries_for_more_rows() -> None:
    names = checked_pages()

    def measure(world: World) -> Visits:
        clients = {role: portal_client_as(world, role) for role in ROLES}
        return {(name, role): visit(clients[role], _url(world, name)) for name in names for role in ROLES}

    assert_same_costs(at_scale(SMALL, measure), at_scale(LARGE, measure), not_lists=NOT_LISTS)
