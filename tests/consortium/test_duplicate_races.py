"""A duplicate that slips past the pre-check (another request committed in between) is a 400, not a 500."""

from __future__ import annotations

import pytest

from consortium import services
from consortium.errors import ValidationFailed
from consortium.models import Member, User
from consortium.services import membership, people
from ledger.models import LedgerEntry
from tests.factories import MemberFactory, make_credit_code

pytestmark = pytest.mark.django_db


def test_application_racing_another_with_the_same_code_is_a_400(api_client, monkeypatch) -> None:
    code = make_credit_code(7)
    MemberFactory(credit_code=code)  # the other applicant, committed after our check
    monkeypatch.setattr(membership, "_credit_code_taken", lambda code: False)
    body = {
        "legal_name": "Late Applicant Co., Ltd.",
        "credit_code": code,
        "size_class": "small",
        "sector": "C",
        "region": "Jiangsu",
        "contact_name": "Wang Fang",
        "contact_email": "wang@late.example",
    }
    response = api_client.post("/api/v1/members/", body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "duplicate_credit_code"
    assert "credit_code" in response.json()["errors"]
    assert Member.objects.filter(credit_code=code).count() == 1


def test_person_racing_another_with_the_same_username_is_a_400(client_for, member_admin, monkeypatch) -> None:
    monkeypatch.setattr(people, "_username_taken", lambda username: False)
    body = {"username": "own-admin", "email": "twin@firm.example", "role": "analyst"}
    response = client_for(member_admin).post("/api/v1/users/", body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "duplicate_username"
    assert "username" in response.json()["errors"]
    assert User.objects.filter(username="own-admin").count() == 1


def test_staff_account_racing_another_with_the_same_username_is_refused(officer, monkeypatch) -> None:
    monkeypatch.setattr(people, "_username_taken", lambda username: False)
    entries = LedgerEntry.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        services.staff_user_create(
            username="officer", email="twin@consortium.example", consortium_role="auditor"
        )
    assert refused.value.code == "duplicate_username"
    assert refused.value.extra["errors"] == {"username": ["The username 'officer' is taken."]}
    assert User.objects.filter(username="officer").count() == 1
    assert LedgerEntry.objects.count() == entries


def test_a_name_differing_only_in_case_racing_another_is_refused(
    client_for, member_admin, monkeypatch
) -> None:
    """The database holds one name per spelling whatever its case, as the services' check does: "OWN-ADMIN"
    committed by another request after our check passed is the same name."""
    monkeypatch.setattr(people, "_username_taken", lambda username: False)
    entries = LedgerEntry.objects.count()
    body = {"username": "OWN-Admin", "email": "twin@firm.example", "role": "analyst"}
    response = client_for(member_admin).post("/api/v1/users/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "duplicate_username"
    assert User.objects.filter(username__iexact="own-admin").count() == 1
    assert LedgerEntry.objects.count() == entries
