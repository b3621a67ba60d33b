"""The consortium's journeys as the people who use the portal walk them: what each page tells them to do
next after an action."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.urls import reverse

from tests.exchange.support import as_user
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NO_ADMIN = "has no member admin yet, so nobody can act for it in the portal. Add its first member admin"


def page_text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    body = response.content.decode().split("<main", 1)[1]
    body = re.sub(r"</?(?:a|bdi|code|span|strong)\b[^>]*>", "", body)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_an_officer_who_admits_a_member_is_told_to_add_its_first_admin_until_there_is_one(officer) -> None:
    applicant = MemberFactory(status="applied", legal_name="Anbo Data Co., Ltd.")
    client = as_user(officer)
    page = reverse("portal:member-detail", args=[applicant.pk])
    admitted = client.post(page, {"action": "admit", "reason": ""}, follow=True)
    text = page_text(admitted)
    assert "Anbo Data Co., Ltd. is admitted" in text
    assert f"Anbo Data Co., Ltd. {NO_ADMIN}" in text

    form = {"username": "anbo-admin", "email": "admin@anbo.example", "role": "analyst"}
    client.post(reverse("portal:member-person-create", args=[applicant.pk]), form)
    assert NO_ADMIN in page_text(client.get(page))  # an analyst cannot act for the member
    form = {"username": "anbo-admin2", "email": "admin2@anbo.example", "role": "member_admin"}
    assert client.post(reverse("portal:member-person-create", args=[applicant.pk]), form).status_code == 302
    assert NO_ADMIN not in page_text(client.get(page))


def test_nobody_but_those_who_may_add_people_is_told_so(officer, auditor, member) -> None:
    page = reverse("portal:member-detail", args=[member.pk])
    assert NO_ADMIN in page_text(as_user(officer).get(page))
    assert NO_ADMIN not in page_text(as_user(auditor).get(page))  # auditors add nobody


def test_choosing_a_person_s_role_says_what_each_role_may_do_as_their_home_page_does(
    member_admin, data_steward, analyst
) -> None:
    client = as_user(member_admin)
    added = page_text(client.get(reverse("portal:person-create")))
    changed = page_text(client.get(reverse("portal:person-detail", args=[analyst.pk])))
    help_start = added.index("Every role may")
    help_text = added[help_start : added.index("Choose…", help_start)]
    assert help_text in changed  # the same words where a role is changed
    segments = dict(
        re.findall(r"(Every role may|Analyst|Data steward, also|Member admin, also):? ([^.]*)\.", help_text)
    )
    for person, segment in (
        (analyst, "Analyst"),
        (data_steward, "Data steward, also"),
        (member_admin, "Member admin, also"),
    ):
        home = as_user(person).get(reverse("portal:home")).content.decode()
        may = re.findall(r"<li>(?:<a [^>]*>)?([^<]+)", home.split("You may:", 1)[1].split("</ul>", 1)[0])
        said = f"{segments['Every role may']}; {segments.get(segment, '')}".lower()
        for capability in may:
            wanted = html.unescape(capability).strip().lower()
            if wanted != "see your member's people" or person is not member_admin:  # shown as managing them
                assert wanted in said, (segment, wanted)
    assert "register and manage datasets" not in segments["Member admin, also"]
