"""Two officers (or two tabs) deciding the same member: the second decision is refused in words a person
reads, the status now and since when (to the minute, in UTC, as the portal writes times), alike in the
portal and the API, whose body still gives `status_changed_at` exactly for a client."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.urls import reverse

from consortium.models import Member
from tests.api.test_problems import assert_problem
from tests.consortium.test_member_lifecycle import _apply
from tests.exchange.support import as_user

pytestmark = pytest.mark.django_db


def test_a_decision_from_a_page_read_before_anothers_says_what_the_status_is_now(
    api_client: Any, client_for: Any, officer: Any
) -> None:
    member_id = _apply(api_client).json()["id"]
    url = reverse("portal:member-detail", args=[member_id])
    first_tab, second_tab = as_user(officer), as_user(officer)
    shown = re.findall(r'name="status_since" value="([^"]+)"', second_tab.get(url).content.decode())[0]
    assert first_tab.post(url, {"action": "admit", "reason": "", "status_since": shown}).status_code == 302
    admitted_at = Member.objects.get(pk=member_id).status_changed_at

    said = (
        f"The member's status changed at {admitted_at:%Y-%m-%d %H:%M} UTC, after you read it: it is now "
        "Active. Read the member again and decide anew."
    )
    stale = second_tab.post(
        url, {"action": "decline", "reason": "Not an industrial firm.", "status_since": shown}
    )
    assert stale.status_code == 400
    assert said in html.unescape(stale.content.decode())
    api = client_for(officer).post(
        f"/api/v1/members/{member_id}/decline/",
        {"reason": "Not an industrial firm.", "status_changed_at": shown},
        format="json",
    )
    body = assert_problem(api, 409, "status_changed")
    assert body["detail"] == said
    assert body["current_state"] == "active"
    assert body["status_changed_at"] == admitted_at.isoformat().replace("+00:00", "Z")
