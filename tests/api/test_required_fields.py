"""A value the service requires, missing or blank, is 400 `required` with `errors` naming each such field, for
a new person and a membership application as for an API key's name: the serializers refused them first as
validation_error. What is given is then the service's to judge too (an unknown role, a credit code of the
wrong form). Nothing is written on refusal."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from consortium.models import Member, MemberStatusChange, User
from ledger.models import LedgerEntry
from tests.api.test_problems import APPLICATION, assert_problem

pytestmark = pytest.mark.django_db

PERSON = {"username": "newcomer", "email": "newcomer@own.example", "role": "analyst"}
BLANKS = ["", "   ", None]  # None: the field left out


def _without(body: dict, field: str, blank: str | None) -> dict:
    rest = {name: value for name, value in body.items() if name != field}
    return rest if blank is None else {**rest, field: blank}


def _written() -> tuple[int, ...]:
    return (
        User.objects.count(),
        Member.objects.count(),
        Group.objects.count(),
        MemberStatusChange.objects.count(),
        LedgerEntry.objects.count(),
    )


def _required(response, fields: set[str]) -> dict:
    body = assert_problem(response, 400, "required")
    assert set(body["errors"]) == fields
    return body


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("field", ["username", "email", "role"])
def test_a_person_without_a_required_value_is_required(client_for, member_admin, field, blank) -> None:
    before = _written()
    response = client_for(member_admin).post("/api/v1/users/", _without(PERSON, field, blank), format="json")
    _required(response, {field})
    assert _written() == before


def test_a_person_without_any_required_value_is_told_of_each(client_for, member_admin) -> None:
    before = _written()
    response = client_for(member_admin).post("/api/v1/users/", {"first_name": "Ann"}, format="json")
    body = _required(response, {"username", "email", "role"})
    assert all(len(messages) == 1 for messages in body["errors"].values())
    assert _written() == before


def test_a_blank_role_is_required_in_a_patch_too(client_for, member_admin, analyst) -> None:
    response = client_for(member_admin).patch(f"/api/v1/users/{analyst.pk}/", {"role": " "}, format="json")
    _required(response, {"role"})
    analyst.refresh_from_db()
    assert analyst.member_role == "analyst"


APPLICATION_REQUIRED = [
    "legal_name",
    "credit_code",
    "size_class",
    "sector",
    "region",
    "contact_name",
    "contact_email",
]


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("field", APPLICATION_REQUIRED)
def test_an_application_without_a_required_value_is_required(api_client, field, blank) -> None:
    before = _written()
    response = api_client.post("/api/v1/members/", _without(APPLICATION, field, blank), format="json")
    _required(response, {field})
    assert _written() == before


def test_an_empty_application_is_told_of_each_required_value(api_client) -> None:
    before = _written()
    body = _required(api_client.post("/api/v1/members/", {}, format="json"), set(APPLICATION_REQUIRED))
    assert "legal name" in body["detail"] and "contact e-mail" in body["detail"]
    assert _written() == before


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        # Over the fields' old caps (40, 20 and 5 characters): the service says what is wrong with them.
        ("credit_code", "9" * 41, "invalid_credit_code"),
        ("size_class", "m" * 21, "unknown_size_class"),
        ("sector", "ISECTOR", "unknown_sector"),
    ],
)
def test_an_application_value_of_the_wrong_form_is_the_services_code(api_client, field, value, code) -> None:
    before = _written()
    response = api_client.post("/api/v1/members/", {**APPLICATION, field: value}, format="json")
    assert set(assert_problem(response, 400, code)["errors"]) == {field}
    assert _written() == before


def test_a_person_value_that_is_not_text_is_still_a_validation_error(client_for, member_admin) -> None:
    before = _written()
    response = client_for(member_admin).post("/api/v1/users/", {**PERSON, "username": ["x"]}, format="json")
    assert set(assert_problem(response, 400, "validation_error")["errors"]) == {"username"}
    assert _written() == before


def test_an_application_value_that_is_not_text_is_still_a_validation_error(api_client) -> None:
    before = _written()
    response = api_client.post("/api/v1/members/", {**APPLICATION, "legal_name": ["x"]}, format="json")
    assert set(assert_problem(response, 400, "validation_error")["errors"]) == {"legal_name"}
    assert _written() == before
