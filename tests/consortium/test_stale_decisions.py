"""A lifecycle decision is taken on the member as the officer read it: sent with the member's
`status_changed_at` (the portal's page always sends it), it is refused with 409 `status_changed` once the
status has changed since, even back to the same status, as when a declined firm applies again with details no
officer has read. Nothing is written then: no history row, no ledger entry, no notice."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from consortium.models import Member, MemberStatus
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.consortium.test_member_lifecycle import _act, _apply
from tests.consortium.test_reapplication import member_time

pytestmark = pytest.mark.django_db


def _decide(client, member_id: int, action: str, seen: str | None, reason: str = "Checked") -> object:
    body = {"reason": reason} if seen is None else {"reason": reason, "status_changed_at": seen}
    return client.post(f"/api/v1/members/{member_id}/{action}/", body, format="json")


def _written(member_id: int) -> tuple[int, int]:
    member = Member.objects.get(pk=member_id)
    return member.status_changes.count(), LedgerEntry.objects.count()


@pytest.fixture
def reapplied(api_client, client_for, officer) -> tuple[int, str]:
    """A firm declined and applied again; the time an officer read it before the decline."""
    member_id = _apply(api_client).json()["id"]
    seen = client_for(officer).get(f"/api/v1/members/{member_id}/").json()["status_changed_at"]
    assert _act(client_for(officer), member_id, "decline", "Not an industrial firm").status_code == 200
    assert _apply(api_client, legal_name="Someone Else Ltd.").status_code == 201
    assert Member.objects.get(pk=member_id).status == MemberStatus.APPLIED
    return member_id, seen


def test_admitting_the_application_read_before_a_reapplication_is_refused(client_for, officer, reapplied):
    member_id, seen = reapplied
    before = _written(member_id)
    mail.outbox.clear()
    response = _decide(client_for(officer), member_id, "admit", seen)
    body = assert_problem(response, 409, "status_changed")
    assert body["current_state"] == "applied"
    assert body["status_changed_at"] == member_time(member_id)
    assert Member.objects.get(pk=member_id).status == MemberStatus.APPLIED
    assert _written(member_id) == before
    assert mail.outbox == []


def test_the_same_decision_on_the_status_as_read_now_is_taken(client_for, officer, reapplied) -> None:
    member_id, _ = reapplied
    response = _decide(client_for(officer), member_id, "admit", member_time(member_id))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "active"


def test_a_decision_sent_without_the_time_read_is_taken_as_before(client_for, officer, reapplied) -> None:
    member_id, _ = reapplied
    assert _decide(client_for(officer), member_id, "admit", None).json()["status"] == "active"


def test_a_second_officers_decision_on_the_same_reading_is_refused(client_for, officer, api_client) -> None:
    member_id = _apply(api_client).json()["id"]
    seen = member_time(member_id)
    assert _decide(client_for(officer), member_id, "admit", seen).status_code == 200
    suspend = _decide(client_for(officer), member_id, "suspend", seen)
    assert_problem(suspend, 409, "status_changed")
    assert Member.objects.get(pk=member_id).status == MemberStatus.ACTIVE


@pytest.mark.parametrize("seen", ["yesterday", "2026-13-01T00:00:00Z", 5])
def test_a_time_that_is_not_one_is_invalid(client_for, officer, api_client, seen) -> None:
    member_id = _apply(api_client).json()["id"]
    response = _decide(client_for(officer), member_id, "admit", seen)
    body = assert_problem(response, 400, "validation_error")
    assert "status_changed_at" in body["errors"]
    assert Member.objects.get(pk=member_id).status == MemberStatus.APPLIED


# --- the portal -----------------------------------------------------------------------------------------


def _page_time(page: str) -> str:
    found = re.search(r'<input type="hidden" name="status_since" value="([^"]+)"', page)
    assert found, "the decision form carries the status it shows"
    return found.group(1)


def test_the_portal_refuses_a_decision_taken_on_a_page_read_before_a_reapplication(
    api_client, client_for, officer
) -> None:
    member_id = _apply(api_client).json()["id"]
    browser = Client()
    browser.force_login(officer)
    url = reverse("portal:member-detail", args=[member_id])
    shown = _page_time(browser.get(url).content.decode())
    assert _act(client_for(officer), member_id, "decline", "Not an industrial firm").status_code == 200
    assert _apply(api_client, legal_name="Someone Else Ltd.").status_code == 201
    before = _written(member_id)

    stale = browser.post(url, {"action": "admit", "reason": "", "status_since": shown})
    assert stale.status_code == 400
    assert "after you read it" in stale.content.decode()
    assert Member.objects.get(pk=member_id).status == MemberStatus.APPLIED
    assert _written(member_id) == before

    # the refusal's page shows the new application, and a decision from it is taken on that
    fresh = _page_time(stale.content.decode())
    assert fresh == _page_time(browser.get(url).content.decode())
    taken = browser.post(url, {"action": "admit", "reason": "", "status_since": fresh})
    assert taken.status_code == 302
    assert Member.objects.get(pk=member_id).status == MemberStatus.ACTIVE


def test_the_portal_refuses_a_status_time_that_is_not_one(api_client, officer) -> None:
    member_id = _apply(api_client).json()["id"]
    browser = Client()
    browser.force_login(officer)
    url = reverse("portal:member-detail", args=[member_id])
    response = browser.post(url, {"action": "admit", "reason": "", "status_since": "2026-12-01T00:00:00"})
    assert response.status_code == 400
    assert "out of date" in response.content.decode()
    assert Member.objects.get(pk=member_id).status == MemberStatus.APPLIED
