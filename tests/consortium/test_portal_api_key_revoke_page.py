"""Revoking an API key from a page of the portal's key list leads back to that page (the form carries its
number), to the last page if that one is gone meanwhile, and never anywhere but the key list."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from consortium.models import MemberAPIKey
from tests.exchange.support import as_user
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db

LISTING = reverse("portal:api-key-list")


class _RevokeForms(HTMLParser):
    """The revoke forms of a key list page: {action: {field: value}} of their hidden fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: dict[str, dict[str, str]] = {}
        self._action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and "/revoke" in attributes.get("action", ""):
            self._action = attributes["action"]
            self.forms[self._action] = {}
        elif tag == "input" and self._action and attributes.get("type") == "hidden":
            self.forms[self._action][attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._action = None


def _revoke_forms(html: str) -> dict[str, dict[str, str]]:
    parser = _RevokeForms()
    parser.feed(html)
    parser.close()
    return parser.forms


@pytest.fixture
def seven_keys(member_admin, monkeypatch) -> list[MemberAPIKey]:
    """Seven keys of the admin's member, oldest first, on three pages of three (newest first)."""
    monkeypatch.setattr("consortium.paging.PAGE_SIZE", 3)
    return [make_api_key(admin=member_admin, scopes=["read"], name=f"Line {n}")[0] for n in range(7)]


def test_a_key_revoked_from_page_2_leads_back_to_page_2(member_admin, seven_keys) -> None:
    client = as_user(member_admin)
    page = client.get(LISTING, {"page": 2})
    forms = _revoke_forms(page.content.decode())
    key = seven_keys[3]  # newest first: Line 6, 5, 4 on page 1; Line 3, 2, 1 on page 2
    action = reverse("portal:api-key-revoke", args=[key.prefix])
    assert forms[action] == {"csrfmiddlewaretoken": forms[action]["csrfmiddlewaretoken"], "page": "2"}

    response = client.post(action, forms[action])
    assert response.status_code == 302
    assert response["Location"] == f"{LISTING}?page=2"
    key.refresh_from_db()
    assert key.revoked
    back = client.get(response["Location"])
    assert "Page 2 of 3" in back.content.decode() and "is revoked" in back.content.decode()


def test_a_key_revoked_from_page_1_leads_to_the_plain_list(member_admin, seven_keys) -> None:
    response = as_user(member_admin).post(
        reverse("portal:api-key-revoke", args=[seven_keys[6].prefix]), {"page": "1"}
    )
    assert response["Location"] == LISTING


def test_when_the_page_is_gone_the_revoke_leads_to_the_last_page_left(member_admin, seven_keys) -> None:
    # The form was sent from page 3, whose only key is the oldest. Revoked keys stay listed, so a revoke
    # itself empties no page, but keys can go meanwhile (an operator deleting them): the list is then one
    # page shorter, and the revoke leads to its last page instead of one past the end.
    client = as_user(member_admin)
    action = reverse("portal:api-key-revoke", args=[seven_keys[0].prefix])
    assert action in _revoke_forms(client.get(LISTING, {"page": 3}).content.decode())
    MemberAPIKey.objects.filter(pk=seven_keys[6].pk).delete()

    response = client.post(action, {"page": "3"})
    assert response["Location"] == f"{LISTING}?page=2"
    seven_keys[0].refresh_from_db()
    assert seven_keys[0].revoked
    assert "Page 2 of 2" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("sent", "location"),
    [
        ("99", f"{LISTING}?page=3"),  # past the end: the last page
        ("3", f"{LISTING}?page=3"),
        ("0", f"{LISTING}?page=3"),  # out of range, as ?page=0 on the list itself
        ("-2", f"{LISTING}?page=3"),
        ("2.0", LISTING),
        ("two", LISTING),
        ("", LISTING),
        ("9" * 5000, LISTING),  # more digits than int() reads
        ("2&next=https://evil.example/", LISTING),
        ("//evil.example/", LISTING),
        ("https://evil.example/", LISTING),
        ("2\r\nLocation: https://evil.example/", LISTING),
    ],
)
def test_the_page_sent_is_only_ever_a_page_number_of_the_key_list(
    member_admin, seven_keys, sent, location
) -> None:
    response = as_user(member_admin).post(
        reverse("portal:api-key-revoke", args=[seven_keys[6].prefix]), {"page": sent}
    )
    assert response.status_code == 302
    assert response["Location"] == location


def test_a_revoke_without_a_page_leads_to_the_plain_list(member_admin, seven_keys) -> None:
    response = as_user(member_admin).post(reverse("portal:api-key-revoke", args=[seven_keys[6].prefix]))
    assert response["Location"] == LISTING


def test_a_refused_revoke_also_leads_back_to_its_page(member_admin, seven_keys) -> None:
    client = as_user(member_admin)
    action = reverse("portal:api-key-revoke", args=[seven_keys[3].prefix])
    client.post(action, {"page": "2"})
    again = client.post(action, {"page": "2"})  # already revoked: a message, not a change
    assert again["Location"] == f"{LISTING}?page=2"
    assert "already revoked" in client.get(again["Location"]).content.decode()
