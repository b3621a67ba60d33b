"""Text longer than its column takes (a member's names, region and contact details, a person's username,
e-mail and names) is refused by the service as 400 `too_long`, `errors` naming each such field with its
maximum, in the API and the portal alike; text of the maximum length is stored whole, on PostgreSQL too.
The API's serializers refused it first as validation_error in DRF's words, the portal's forms in Django's,
and the services did not check at all: the portal's e-mail fields took up to 320 characters, which
PostgreSQL refused past the column's 254 (a 500)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from consortium.models import Member, User
from tests.api.test_problems import APPLICATION, assert_problem
from tests.api.test_required_fields import PERSON, _written
from tests.consortium.test_portal import text
from tests.exchange.support import as_user

pytestmark = pytest.mark.django_db


def _email(length: int) -> str:
    """A well-formed address of `length` characters (from 200), which validate_email takes up to 320."""
    domain = ".".join(["d" * 63] * 3) + ".cn"
    return "u" * (length - 1 - len(domain)) + "@" + domain


# (field, its column's maximum, a value one character longer)
MEMBER_FIELDS = [
    ("legal_name", 200, "L" * 201),
    ("region", 100, "R" * 101),
    ("contact_name", 100, "N" * 101),
    ("contact_email", 254, _email(255)),
    ("contact_phone", 30, "1" * 31),
]
PERSON_FIELDS = [
    ("username", 150, "u" * 151),
    ("email", 254, _email(255)),
    ("first_name", 150, "F" * 151),
    ("last_name", 150, "L" * 151),
]
CONTACT = {"contact_name": "Li Wei", "contact_email": "li.wei@own.example", "contact_phone": ""}


def _too_long(response: Any, fields: dict[str, int]) -> dict[str, list[str]]:
    errors = assert_problem(response, 400, "too_long")["errors"]
    assert set(errors) == set(fields)
    for field, maximum in fields.items():
        [message] = errors[field]
        assert f"at most {maximum} characters" in message, message
    return errors


def _page_says(response: Any, errors: dict[str, list[str]]) -> None:
    assert response.status_code == 400
    page = text(response)
    assert all(message in page for [message] in errors.values()), page
    assert "Ensure this value has at most" not in page


@pytest.mark.parametrize(("field", "maximum", "value"), MEMBER_FIELDS)
def test_an_application_too_long_is_too_long_in_the_api_and_the_portal(
    api_client, field, maximum, value
) -> None:
    before = _written()
    said = _too_long(
        api_client.post("/api/v1/members/", {**APPLICATION, field: value}, format="json"), {field: maximum}
    )
    name = Member._meta.get_field(field).verbose_name
    assert said[field] == [f"The {name} is too long: at most {maximum} characters, not {maximum + 1}."]
    _page_says(Client().post(reverse("portal:apply"), {**APPLICATION, field: value}), said)
    assert _written() == before


@pytest.mark.parametrize(("field", "maximum", "value"), PERSON_FIELDS)
def test_a_person_too_long_is_too_long_in_the_api_and_the_portal(
    client_for, member_admin, field, maximum, value
) -> None:
    before = _written()
    said = _too_long(
        client_for(member_admin).post("/api/v1/users/", {**PERSON, field: value}, format="json"),
        {field: maximum},
    )
    shown = as_user(member_admin).post(reverse("portal:person-create"), {**PERSON, field: value})
    _page_says(shown, said)
    assert _written() == before


@pytest.mark.parametrize(
    ("url", "valid", "fields", "model"),
    [
        ("/api/v1/members/", APPLICATION, MEMBER_FIELDS, Member),
        ("/api/v1/users/", PERSON, PERSON_FIELDS, User),
    ],
)
def test_every_field_too_long_is_named_and_the_maximum_is_stored_whole(
    client_for, member_admin, url, valid, fields, model
) -> None:
    client = client_for(member_admin if model is User else None)  # anyone may apply
    too_long = {field: value for field, _, value in fields}
    _too_long(client.post(url, {**valid, **too_long}, format="json"), {field: n for field, n, _ in fields})
    at_most = {
        field: value[:maximum] if "email" not in field else _email(254) for field, maximum, value in fields
    }
    response = client.post(url, {**valid, **at_most}, format="json")
    assert response.status_code == 201, response.content
    stored = model.objects.get(pk=response.json()["id"])
    assert {field: getattr(stored, field) for field in at_most} == at_most


@pytest.mark.parametrize(("field", "maximum", "value"), MEMBER_FIELDS[2:])
def test_contact_details_too_long_are_too_long_in_the_api_and_the_portal(
    client_for, member_admin, member, field, maximum, value
) -> None:
    before = _written(), Member.objects.values_list(*CONTACT).get(pk=member.pk)
    said = _too_long(
        client_for(member_admin).patch(f"/api/v1/members/{member.pk}/", {field: value}, format="json"),
        {field: maximum},
    )
    edit = reverse("portal:member-contact-edit", args=[member.pk])
    _page_says(as_user(member_admin).post(edit, {**CONTACT, field: value}), said)
    assert (_written(), Member.objects.values_list(*CONTACT).get(pk=member.pk)) == before
