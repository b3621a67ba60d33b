"""Every link the portal shows the people of a suspended member opens for them: the pages they still read
(their member's record, requests, datasets and grants) link no page that refuses them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from consortium import services as members
from tests.exchange.support import as_user, published, request_access

pytestmark = pytest.mark.django_db


def _broken_links(portal: Client, start: str) -> tuple[set[str], dict[str, tuple[str, int]]]:
    """Each portal page reachable from `start` by its links, opened: the links seen, and {link: (the page
    it is on, status)} for every one that does not open (the API's pages and logging out left aside)."""
    seen, broken, queue = {start}, {}, [(start, "")]
    while queue:
        url, on = queue.pop()
        response = portal.get(url, follow=True)
        if response.status_code != 200:
            broken[url] = (on, response.status_code)
            continue
        for link in re.findall(r'href="(/[^"#?]*)', response.content.decode()):
            if link not in seen and not link.startswith(("/api/", "/static/", "/logout/")):
                seen.add(link)
                queue.append((link, url))
    return seen, broken


@pytest.mark.parametrize("with_records", [False, True], ids=["nothing yet", "a dataset, a request, a grant"])
@pytest.mark.parametrize("who", ["other_admin", "other_steward", "other_analyst"])
def test_a_suspended_members_people_see_no_link_that_refuses_them(
    request: Any, data_steward: Any, other_member: Any, officer: Any, who: str, with_records: bool
) -> None:
    person = request.getfixturevalue(who)
    if with_records:
        request_access(person, published(data_steward, tier="open"))
        published(request.getfixturevalue("other_steward"), tier="restricted")
    members.member_suspend(member=other_member, actor=officer, reason="Audit pending.")
    seen, broken = _broken_links(as_user(person), reverse("portal:home"))
    assert broken == {}
    own_pages = {reverse("portal:member-detail", args=[other_member.pk]), reverse("portal:grant-list")}
    assert own_pages <= seen
