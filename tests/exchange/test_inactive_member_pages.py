"""The portal of a member's people while the member is not active: the nav bar offers only pages that open
for them (no Catalog, which refuses them; Requests, which leads to their member's requests), their
member's own requests, datasets and grants open read-only, as the API reads them, and say why nothing can
be done under them, linking no dataset page they may not open; what they post anyway is refused as
member_not_active with nothing written."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pytest
from django.urls import reverse

from consortium import services as members
from exchange.models import Dataset, DatasetVersion
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import REGISTRATION_FORM, as_user, published, request_access

pytestmark = pytest.mark.django_db

NOTICE = "While your member is suspended, its datasets, grants and requests are shown for reference only"


def _opened(portal: Any, url: str) -> str:
    """The page at `url`, which must open (200), as text with its HTML entities resolved."""
    response = portal.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.content.decode())


def _nav_links(page: str) -> dict[str, str]:
    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    return {name: href for href, name in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)}


def test_the_nav_offers_a_suspended_members_people_only_pages_that_open(
    data_steward: Any, other_analyst: Any, other_member: Any, officer: Any
) -> None:
    grant = request_access(other_analyst, published(data_steward, tier="open")).grant
    portal = as_user(other_analyst)
    assert {"Catalog", "Requests"} <= set(_nav_links(portal.get(reverse("portal:home")).content.decode()))
    members.member_suspend(member=other_member, actor=officer, reason="Audit pending.")

    links = _nav_links(portal.get(reverse("portal:home")).content.decode())
    assert "Catalog" not in links
    for name, href in links.items():
        if href.startswith("/api/"):
            continue
        response = portal.get(href, follow=True)
        assert response.status_code == 200, (name, href)
    requests = portal.get(links["Requests"], follow=True)
    assert requests.redirect_chain[-1][0] == reverse("portal:my-requests")  # the request behind the grant
    assert reverse("portal:request-detail", args=[grant.request_id]) in requests.content.decode()
    grants = portal.get(reverse("portal:grant-list"))
    page = html.unescape(grants.content.decode())
    assert NOTICE in page and reverse("portal:grant-detail", args=[grant.pk]) in page
    assert reverse("portal:catalog") not in page  # neither in the sub-navigation
    assert reverse("portal:dataset-detail", args=[grant.dataset_id]) not in page


def test_the_grant_and_request_pages_say_why_nothing_can_be_done(
    data_steward: Any, other_analyst: Any, other_member: Any, officer: Any
) -> None:
    grant = request_access(other_analyst, published(data_steward, tier="open")).grant
    members.member_suspend(member=other_member, actor=officer, reason="Audit pending.")
    portal = as_user(other_analyst)
    for url in (
        reverse("portal:grant-detail", args=[grant.pk]),
        reverse("portal:request-detail", args=[grant.request_id]),
    ):
        page = html.unescape(portal.get(url).content.decode())
        assert NOTICE in page, url
        assert "Download the latest version" not in page
        assert reverse("portal:dataset-detail", args=[grant.dataset_id]) not in page
    refused = portal.post(reverse("portal:grant-download", args=[grant.pk]), follow=True)
    assert "Your member is suspended, not active" in html.unescape(refused.content.decode())


def _close(member: Any, officer: Any, status: str) -> None:
    if status == "suspended":
        members.member_suspend(member=member, actor=officer, reason="Audit pending.")
    else:
        members.member_withdraw(member=member, actor=officer, reason="Left the consortium.")


# The forms that act on a dataset of one's own member, by the address they post to.
DATASET_ACTIONS = ("portal:dataset-policy", "portal:dataset-version-upload", "portal:dataset-withdraw")


@pytest.mark.parametrize("status", ["suspended", "withdrawn"])
def test_their_requests_and_own_datasets_open_read_only_as_the_api_reads_them(
    client_for: Any,
    data_steward: Any,
    other_steward: Any,
    member: Any,
    officer: Any,
    status: str,
) -> None:
    own = published(data_steward, tier="open")
    theirs = published(other_steward, tier="restricted")
    asked = request_access(data_steward, theirs)  # pending: withdrawn from My requests while active
    _close(member, officer, status)
    portal = as_user(data_steward)

    page = _opened(portal, reverse("portal:my-requests"))
    assert reverse("portal:request-detail", args=[asked.pk]) in page
    assert f"While your member is {status}, its datasets, grants and requests are shown for reference" in page
    assert 'value="withdraw"' not in page
    assert reverse("portal:dataset-detail", args=[theirs.pk]) not in page  # not theirs to open

    page = _opened(portal, reverse("portal:my-datasets"))
    assert reverse("portal:dataset-detail", args=[own.pk]) in page
    assert "Register a dataset" not in page

    page = _opened(portal, reverse("portal:dataset-detail", args=[own.pk]))
    assert own.title in page and "v1" in page
    for action in DATASET_ACTIONS:
        assert reverse(action, args=[own.pk]) not in page
    assert reverse("portal:dataset-version-withdraw", args=[own.pk, 1]) not in page

    # What stays closed: the catalog and another member's dataset, as in the API
    assert portal.get(reverse("portal:catalog")).status_code == 404
    assert portal.get(reverse("portal:dataset-detail", args=[theirs.pk])).status_code == 404
    api = client_for(data_steward)
    assert [row["id"] for row in api.get("/api/v1/datasets/").json()["results"]] == [own.pk]
    assert api.get(f"/api/v1/datasets/{own.pk}/").status_code == 200
    assert api.get(f"/api/v1/datasets/{own.pk}/versions/").status_code == 200
    assert api.get(f"/api/v1/datasets/{theirs.pk}/").status_code == 404

    links = _nav_links(portal.get(reverse("portal:home")).content.decode())
    assert "Catalog" not in links
    requests = portal.get(links["Requests"], follow=True)
    assert requests.redirect_chain[-1][0] == reverse("portal:my-requests")
    subnav = requests.content.decode().split('<nav aria-label="Exchange"', 1)[1].split("</nav>", 1)[0]
    offered = re.findall(r'<a href="([^"]+)"', subnav)
    names = ("my-datasets", "my-requests", "incoming-requests", "grant-list")
    assert offered == [reverse(f"portal:{name}") for name in names]
    for href in offered:
        assert portal.get(href).status_code == 200, href


@pytest.mark.parametrize("status", ["suspended", "withdrawn"])
def test_the_requests_for_their_own_datasets_are_listed_read_only(
    client_for: Any,
    data_steward: Any,
    other_analyst: Any,
    member: Any,
    officer: Any,
    status: str,
) -> None:
    # The API lists the requests for the member's datasets to its steward; the portal's incoming list too,
    # with nothing waiting for a decision it may not take.
    incoming = request_access(other_analyst, published(data_steward, tier="restricted"))
    _close(member, officer, status)
    api = client_for(data_steward)
    assert [row["id"] for row in api.get("/api/v1/access-requests/").json()["results"]] == [incoming.pk]
    portal = as_user(data_steward)

    page = _opened(portal, reverse("portal:incoming-requests"))
    assert reverse("portal:request-detail", args=[incoming.pk]) in page
    assert f"While your member is {status}" in page
    detail = _opened(portal, reverse("portal:request-detail", args=[incoming.pk]))
    assert 'value="approve"' not in detail and 'value="reject"' not in detail
    home = _opened(portal, reverse("portal:home"))
    assert "waiting for your decision" not in home  # it decides none while its member is not active
    refused = portal.post(
        reverse("portal:request-detail", args=[incoming.pk]), {"action": "approve"}, follow=True
    )
    assert f"Your member is {status}, not active" in html.unescape(refused.content.decode())
    incoming.refresh_from_db()
    assert incoming.state == "pending"


@pytest.mark.parametrize("status", ["suspended", "withdrawn"])
def test_acting_on_their_own_datasets_is_refused_as_member_not_active(
    client_for: Any, data_steward: Any, member: Any, officer: Any, status: str
) -> None:
    own = published(data_steward, tier="open")
    _close(member, officer, status)
    portal = as_user(data_steward)
    before = Dataset.objects.count(), DatasetVersion.objects.count(), LedgerEntry.objects.count()
    refusal = f"Your member is {status}, not active: its people may not do this"

    posts = [
        (reverse("portal:my-datasets"), REGISTRATION_FORM),
        (reverse("portal:dataset-policy", args=[own.pk]), {"tier": "restricted"}),
        (reverse("portal:dataset-withdraw", args=[own.pk]), {"reason": "Obsolete."}),
        (reverse("portal:dataset-version-withdraw", args=[own.pk, 1]), {"reason": "Wrong file."}),
        (reverse("portal:dataset-version-upload", args=[own.pk]), {"file": io.BytesIO(b"a,b\n1,2\n")}),
    ]
    for url, data in posts:
        response = portal.post(url, data)
        assert response.status_code == 403, url
        assert refusal in html.unescape(response.content.decode()), url
    assert (Dataset.objects.count(), DatasetVersion.objects.count(), LedgerEntry.objects.count()) == before
    assert Dataset.objects.get(pk=own.pk).is_listed
    # the API answers the same acts alike
    api = client_for(data_steward)
    response = api.post(f"/api/v1/datasets/{own.pk}/withdraw/", {"reason": "Obsolete."}, format="json")
    assert_problem(response, 403, "member_not_active")
