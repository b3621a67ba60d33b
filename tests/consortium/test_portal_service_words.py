"""The portal's application, add-person and contact forms say what the API says for the same values: the
service judges what is missing and the e-mail address (`required`, `invalid_email`), and both faces show
its sentences. The forms checked these themselves, in Django's words ('This field is required.', 'Enter a
valid email address.'), while the API gave the service's."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from consortium.models import Member
from tests.api.test_problems import APPLICATION
from tests.api.test_required_fields import APPLICATION_REQUIRED, PERSON, _written
from tests.consortium.test_portal import text
from tests.exchange.support import as_user

pytestmark = pytest.mark.django_db

DJANGO_WORDS = ("This field is required.", "Enter a valid email address.")
CONTACT = {"contact_name": "Li Wei", "contact_email": "li.wei@own.example", "contact_phone": ""}


def _api_messages(response: Any, code: str) -> list[str]:
    body = response.json()
    assert (response.status_code, body["code"]) == (400, code), body
    return [message for messages in body["errors"].values() for message in messages]


def _shows_the_api_s_words(page_response: Any, api_response: Any, code: str) -> None:
    assert page_response.status_code == 400
    page = text(page_response)
    for message in _api_messages(api_response, code):
        assert message in page, message
    assert not any(words in page for words in DJANGO_WORDS)


# Each case: the fields changed from a valid body, and the code the service answers for them.
APPLICATION_CASES = [
    ({field: "" for field in APPLICATION}, "required"),
    ({"legal_name": "   ", "region": ""}, "required"),
    ({"size_class": "", "sector": ""}, "required"),
    ({"contact_email": "not-an-address"}, "invalid_email"),
    ({"contact_email": "two@@example.cn"}, "invalid_email"),
]


@pytest.mark.parametrize(("change", "code"), APPLICATION_CASES)
def test_an_application_is_refused_on_the_portal_in_the_api_s_words(api_client, change, code) -> None:
    before = _written()
    said = api_client.post("/api/v1/members/", {**APPLICATION, **change}, format="json")
    shown = Client().post(reverse("portal:apply"), {**APPLICATION, **change})
    _shows_the_api_s_words(shown, said, code)
    assert _written() == before


PERSON_CASES = [
    ({"username": "", "email": "", "role": ""}, "required"),
    ({"username": "  "}, "required"),
    ({"role": ""}, "required"),
    ({"email": "newcomer"}, "invalid_email"),
    ({"email": "newcomer@"}, "invalid_email"),
]


@pytest.mark.parametrize(("change", "code"), PERSON_CASES)
def test_a_new_person_is_refused_on_the_portal_in_the_api_s_words(
    client_for, member_admin, change, code
) -> None:
    before = _written()
    said = client_for(member_admin).post("/api/v1/users/", {**PERSON, **change}, format="json")
    shown = as_user(member_admin).post(reverse("portal:person-create"), {**PERSON, **change})
    _shows_the_api_s_words(shown, said, code)
    assert _written() == before


CONTACT_CASES = [
    ({"contact_name": "", "contact_email": ""}, "required"),
    ({"contact_name": "  "}, "required"),
    ({"contact_email": "not-an-address"}, "invalid_email"),
]


@pytest.mark.parametrize(("change", "code"), CONTACT_CASES)
def test_contact_details_are_refused_on_the_portal_in_the_api_s_words(
    client_for, member_admin, member, change, code
) -> None:
    before = _written(), Member.objects.values_list("contact_name", "contact_email").get(pk=member.pk)
    said = client_for(member_admin).patch(f"/api/v1/members/{member.pk}/", change, format="json")
    edit = reverse("portal:member-contact-edit", args=[member.pk])
    shown = as_user(member_admin).post(edit, {**CONTACT, **change})
    _shows_the_api_s_words(shown, said, code)
    assert (
        _written(),
        Member.objects.values_list("contact_name", "contact_email").get(pk=member.pk),
    ) == before


def test_the_forms_still_mark_what_is_required(member_admin, member) -> None:
    """For the reader and the browser: the label's asterisk (class `required`) and the input's attribute."""
    pages = {
        "apply": text(Client().get(reverse("portal:apply"))),
        "person": text(as_user(member_admin).get(reverse("portal:person-create"))),
        "contact": text(as_user(member_admin).get(reverse("portal:member-contact-edit", args=[member.pk]))),
    }
    required = {
        "apply": APPLICATION_REQUIRED,
        "person": ["username", "email", "role"],
        "contact": ["contact_name", "contact_email"],
    }
    for page, fields in required.items():
        for field in fields:
            assert f'<label for="id_{field}" class="required">' in pages[page], (page, field)
            [tag] = re.findall(rf'<(?:input|select)[^>]*name="{field}"[^>]*>', pages[page])
            assert re.search(r"\srequired[\s>]", tag), (page, tag)
