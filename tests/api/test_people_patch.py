"""PATCH /api/v1/users/{id}/ changes a person's role and nothing else. A partial update demands no field it
does not change: one that names only another field is told that field cannot be changed here, not that the
role is required; one that names nothing changes nothing."""

from __future__ import annotations

import pytest

from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem

pytestmark = pytest.mark.django_db

ONLY_THE_ROLE = "Only the role can be changed here."


@pytest.mark.parametrize(
    "body",
    [
        {"username": "renamed"},
        {"first_name": "Ann"},
        {"email": "ann@own.example", "last_name": "Lee"},
        {"username": "renamed", "role": "data_steward"},
    ],
)
def test_a_field_other_than_the_role_is_named_as_unchangeable(
    client_for, member_admin, analyst, body
) -> None:
    entries = LedgerEntry.objects.count()
    response = client_for(member_admin).patch(f"/api/v1/users/{analyst.pk}/", body, format="json")
    problem = assert_problem(response, 400, "validation_error")
    others = set(body) - {"role"}
    assert problem["errors"] == {name: [ONLY_THE_ROLE] for name in others}
    analyst.refresh_from_db()
    assert (analyst.username, analyst.member_role, analyst.first_name) == ("own-analyst", "analyst", "")
    assert LedgerEntry.objects.count() == entries


@pytest.mark.parametrize("role", [5, ["analyst"], None])
def test_a_role_of_the_wrong_type_and_an_unchangeable_field_are_named_together(
    client_for, member_admin, analyst, role
) -> None:
    """Both faults in one 400: the role's type error alone was reported, the other field only once the
    client had corrected the role and sent the request again."""
    entries = LedgerEntry.objects.count()
    body = {"role": role, "username": "x", "is_active": False}
    response = client_for(member_admin).patch(f"/api/v1/users/{analyst.pk}/", body, format="json")
    problem = assert_problem(response, 400, "validation_error")
    assert set(problem["errors"]) == {"role", "username", "is_active"}
    assert problem["errors"]["username"] == problem["errors"]["is_active"] == [ONLY_THE_ROLE]
    analyst.refresh_from_db()
    assert (analyst.username, analyst.member_role, analyst.is_active) == ("own-analyst", "analyst", True)
    assert LedgerEntry.objects.count() == entries


def test_a_patch_that_names_nothing_changes_nothing(client_for, member_admin, analyst) -> None:
    entries = LedgerEntry.objects.count()
    response = client_for(member_admin).patch(f"/api/v1/users/{analyst.pk}/", {}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["role"]) == (analyst.pk, "analyst")
    assert LedgerEntry.objects.count() == entries


def test_a_patch_that_names_nothing_is_still_refused_to_whoever_may_not_change_the_person(
    client_for, analyst
) -> None:
    response = client_for(analyst).patch(f"/api/v1/users/{analyst.pk}/", {}, format="json")  # sees itself
    assert response.status_code == 403, response.content


def test_the_role_alone_still_changes(client_for, member_admin, analyst) -> None:
    response = client_for(member_admin).patch(
        f"/api/v1/users/{analyst.pk}/", {"role": "data_steward"}, format="json"
    )
    assert response.status_code == 200, response.content
    analyst.refresh_from_db()
    assert analyst.member_role == "data_steward"
