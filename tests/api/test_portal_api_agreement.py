"""The portal and the API show the same records to the same people: one table of who sees what, asked of
both faces.

Each row is an actor of member M (its admin, data steward and analyst; the admin of a suspended member S)
or consortium staff; each column a record: members, people, datasets, access requests, grants and credit
statements, of M and of other members (O, and T, a third one), in the situations where the rules differ
(withdrawn, confidential, core, a suspended owner). A record is visible when its portal page answers 200
and its API resource 200; hidden when both answer 404 (never 403: a record the actor may not see is not
found). Then the lists: the catalog, the grants, the member's own requests and the member directory name
exactly the records the API's lists return to the same actor, wherever the portal offers the list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.test import Client
from rest_framework.test import APIClient

from consortium.models import Member, MemberStatus, User
from exchange import services
from exchange.models import AccessRequest
from tests.exchange.support import published, register, request_access
from tests.factories import MemberFactory, UserFactory
from tests.ledger.credit.statement_support import settled_epoch

pytestmark = pytest.mark.django_db

ACTORS = ["admin", "steward", "analyst", "suspended_admin", "officer", "security_officer", "auditor"]
RECORDS = [
    "member:own",
    "member:other",
    "member:suspended",
    "member:applied",
    "person:colleague",
    "person:other",
    "dataset:own",
    "dataset:other",
    "dataset:confidential",
    "dataset:withdrawn",
    "dataset:core",
    "dataset:suspended_owner",
    "request:mine",
    "request:incoming",
    "request:third",
    "request:third_confidential",
    "grant:mine",
    "grant:third_on_own",
    "statement:own",
    "statement:other",
]


def _row(visible: str) -> dict[str, bool]:
    """A row of the table from the records that are visible ('*' for all of them)."""
    names = RECORDS if visible == "*" else visible.split()
    assert set(names) <= set(RECORDS), set(names) - set(RECORDS)
    return {record: record in names for record in RECORDS}


_MEMBER_PERSON = (
    "member:own member:other dataset:own dataset:other dataset:confidential dataset:core "
    "dataset:suspended_owner request:mine request:incoming grant:mine grant:third_on_own statement:own"
)
VISIBLE: dict[str, dict[str, bool]] = {
    # Only admins see their member's people; every person of M sees its records and the catalog.
    "admin": _row(_MEMBER_PERSON + " person:colleague"),
    "steward": _row(_MEMBER_PERSON),
    "analyst": _row(_MEMBER_PERSON),
    # A suspended member's people see their own member's record (to learn why) and its own records
    # read-only (its dataset here), nothing else.
    "suspended_admin": _row("member:suspended dataset:suspended_owner"),
    # Officers see everything but credit statements, which they read as auditors do (by naming the member).
    "officer": _row("*"),
    "auditor": _row(
        "member:own member:other member:suspended member:applied dataset:own dataset:other "
        "dataset:confidential dataset:withdrawn dataset:core dataset:suspended_owner request:mine "
        "request:incoming request:third request:third_confidential grant:mine grant:third_on_own "
        "statement:own statement:other"
    ),
    # Security officers see every member and dataset, and the requests of confidential tier they decide.
    "security_officer": _row(
        "member:own member:other member:suspended member:applied dataset:own dataset:other "
        "dataset:confidential dataset:withdrawn dataset:core dataset:suspended_owner "
        "request:third_confidential"
    ),
}


@dataclass
class World:
    actors: dict[str, User]
    paths: dict[str, tuple[str, str]]  # record -> (portal page, API resource)


@pytest.fixture
def world(
    member, other_member, member_admin, data_steward, analyst, other_steward, other_analyst, officer,
    security_officer, auditor,
) -> World:  # fmt: skip
    third = MemberFactory(legal_name="Third Firm Co., Ltd.")
    third_analyst = UserFactory(username="third-analyst", member=third, member_role="analyst")
    suspended = MemberFactory(legal_name="Suspended Firm Co., Ltd.")
    suspended_admin = UserFactory(username="suspended-admin", member=suspended, member_role="member_admin")
    suspended_steward = UserFactory(
        username="suspended-steward", member=suspended, member_role="data_steward"
    )
    colleague = UserFactory(username="own-colleague", member=member, member_role="analyst")
    applied = MemberFactory(legal_name="Applicant Co., Ltd.", status=MemberStatus.APPLIED)
    epoch = settled_epoch(
        provider=data_steward, consumer=other_analyst, members=[member, other_member, third, suspended]
    )

    own = published(data_steward, tier="restricted")
    other = published(other_steward, tier="restricted")
    confidential = published(other_steward, tier="confidential")
    withdrawn = published(other_steward, tier="restricted")
    core = register(other_steward, grade=3, title="Core process recipes")
    of_suspended = published(suspended_steward, tier="open")
    mine = request_access(analyst, other)
    services.access_request_approve(actor=other_steward, request=mine)
    incoming = request_access(other_analyst, own)
    third_request = request_access(third_analyst, other)
    third_confidential = request_access(third_analyst, confidential)
    on_own = request_access(third_analyst, own, justification="Ours.")
    services.access_request_approve(actor=data_steward, request=on_own)
    services.dataset_withdraw(actor=other_steward, dataset=withdrawn, reason="Recalled.")
    Member.objects.filter(pk=suspended.pk).update(status=MemberStatus.SUSPENDED)
    grant_mine = AccessRequest.objects.get(pk=mine.pk).grant
    grant_on_own = AccessRequest.objects.get(pk=on_own.pk).grant

    def member_paths(target: Member) -> tuple[str, str]:
        return f"/members/{target.pk}/", f"/api/v1/members/{target.pk}/"

    def statement(target: Member) -> tuple[str, str]:
        query = f"epoch={epoch}&member={target.pk}"
        return f"/credit/?{query}", f"/api/v1/credit/statements/{epoch}/?member={target.pk}"

    paths = {
        "member:own": member_paths(member),
        "member:other": member_paths(other_member),
        "member:suspended": member_paths(suspended),
        "member:applied": member_paths(applied),
        "person:colleague": (f"/people/{colleague.pk}/", f"/api/v1/users/{colleague.pk}/"),
        "person:other": (f"/people/{other_analyst.pk}/", f"/api/v1/users/{other_analyst.pk}/"),
        **{
            f"dataset:{name}": (f"/catalog/{dataset.pk}/", f"/api/v1/datasets/{dataset.pk}/")
            for name, dataset in [
                ("own", own),
                ("other", other),
                ("confidential", confidential),
                ("withdrawn", withdrawn),
                ("core", core),
                ("suspended_owner", of_suspended),
            ]
        },
        **{
            f"request:{name}": (f"/requests/{request.pk}/", f"/api/v1/access-requests/{request.pk}/")
            for name, request in [
                ("mine", mine),
                ("incoming", incoming),
                ("third", third_request),
                ("third_confidential", third_confidential),
            ]
        },
        "grant:mine": (f"/grants/{grant_mine.pk}/", f"/api/v1/grants/{grant_mine.pk}/"),
        "grant:third_on_own": (f"/grants/{grant_on_own.pk}/", f"/api/v1/grants/{grant_on_own.pk}/"),
        "statement:own": statement(member),
        "statement:other": statement(other_member),
    }
    actors = {
        "admin": member_admin,
        "steward": data_steward,
        "analyst": analyst,
        "suspended_admin": suspended_admin,
        "officer": officer,
        "security_officer": security_officer,
        "auditor": auditor,
    }
    return World(actors=actors, paths=paths)


def _faces(user: User) -> tuple[Client, APIClient]:
    portal, api = Client(), APIClient()
    portal.force_login(user)
    api.force_login(user)
    return portal, api


@pytest.mark.parametrize("actor", ACTORS)
def test_both_faces_show_an_actor_the_same_records(world: World, actor: str) -> None:
    portal, api = _faces(world.actors[actor])
    seen = {}
    for record, (page, resource) in world.paths.items():
        seen[record] = (portal.get(page).status_code, api.get(resource).status_code)
    expected = {record: (200, 200) if visible else (404, 404) for record, visible in VISIBLE[actor].items()}
    assert seen == expected


# The portal's list pages and the API's lists, with the link that names each record on the page.
LISTS = {
    "catalog": ("/catalog/", r'href="/catalog/(\d+)/"', "/api/v1/datasets/"),
    "grants": ("/grants/", r'href="/grants/(\d+)/"', "/api/v1/grants/"),
    "directory": ("/members/", r'href="/members/(\d+)/"', "/api/v1/members/"),
    "own requests": (
        "/requests/mine/?state=",
        r'href="/requests/(\d+)/"',
        "/api/v1/access-requests/?role=requester",
    ),
}
# How many of those list pages each actor is offered: its member's people all four (staff request nothing).
LISTS_OFFERED = {
    "admin": 4, "steward": 4, "analyst": 4, "suspended_admin": 2, "officer": 3, "security_officer": 3,
    "auditor": 3,
}  # fmt: skip


@pytest.mark.parametrize("actor", ACTORS)
def test_both_faces_list_the_same_records(world: World, actor: str) -> None:
    portal, api = _faces(world.actors[actor])
    compared = 0
    for name, (page, link, resource) in LISTS.items():
        response = portal.get(page)
        if response.status_code == 404:  # a page the role is not offered (its records: the table above)
            continue
        listed = set(map(int, re.findall(link, response.content.decode())))
        separator = "&" if "?" in resource else "?"
        returned = {row["id"] for row in api.get(f"{resource}{separator}page_size=100").json()["results"]}
        assert listed == returned, (name, sorted(listed), sorted(returned))
        compared += 1
    assert compared == LISTS_OFFERED[actor]
