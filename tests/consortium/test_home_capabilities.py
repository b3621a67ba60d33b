"""The home page's list of what a role may do: every capability in words, linked to its portal page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from consortium.navigation import CAPABILITY_PAGES
from consortium.roles import ROLE_CAPABILITIES, Capability
from consortium.views import CAPABILITY_LABELS
from tests.exchange.support import as_user

pytestmark = pytest.mark.django_db


def test_every_capability_has_words_for_the_home_page() -> None:
    assert set(Capability) - set(CAPABILITY_LABELS) == set()


def test_every_capability_a_staff_role_holds_links_to_a_portal_page() -> None:
    """Staff hold nothing only the API does: each capability of theirs has a page to link."""
    staff = ("officer", "security_officer", "auditor")
    assert {cap for role in staff for cap in ROLE_CAPABILITIES[role]} - set(CAPABILITY_PAGES) == set()


def test_the_auditor_s_home_page_links_the_held_mints_in_words(auditor) -> None:
    held_mints = reverse("portal:credit-held-mints")
    response = as_user(auditor).get(reverse("portal:home"))
    page = response.content.decode()
    assert f'<a href="{held_mints}">Release or forfeit held mints</a>' in page
    assert str(Capability.RESOLVE_HELD_MINTS) not in page
    assert "(through the API)" not in page
    assert as_user(auditor).get(held_mints).status_code == 200


@pytest.mark.parametrize("who", ["officer", "security_officer"])
def test_staff_who_may_not_resolve_held_mints_are_not_offered_it(request, who) -> None:
    page = as_user(request.getfixturevalue(who)).get(reverse("portal:home")).content.decode()
    assert "Release or forfeit held mints" not in page
    assert "(through the API)" not in page
