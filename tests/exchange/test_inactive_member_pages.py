"""The portal of a member's people while the member is not active: the nav bar offers only pages that open
for them (no Catalog, which refuses them; Requests, which leads to their member's grants), and the grant
and request pages say why nothing can be done under them, linking no dataset page they may not open."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.urls import reverse

from consortium import services as members
from tests.exchange.support import as_user, published, request_access

pytestmark = pytest.mark.django_db

NOTICE = "While your member is suspended, its grants and requests are shown for reference only"


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
    grants = portal.get(links["Requests"], follow=True)
    assert grants.redirect_chain[-1][0] == reverse("portal:grant-list")
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
