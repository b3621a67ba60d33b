"""Every 201 Created names what it created in Location, the address its detail answers at."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.api.test_problems import APPLICATION
from tests.exchange.support import DATASET_RECORD, post_request, published
from tests.ledger.credit.support import activate, admit

pytestmark = pytest.mark.django_db


def _location(response, detail_of) -> str:
    """The response's Location, checked: absolute, and the path of the object its body describes."""
    assert response.status_code == 201, response.content
    location = response["Location"]
    assert location.startswith("http://testserver/api/v1/"), location
    assert urlsplit(location).path == detail_of(response.json())
    return urlsplit(location).path


def test_each_creation_answers_with_the_new_objects_address(
    client_for, api_client, member_admin, data_steward, other_analyst, auditor, member
) -> None:
    admin, steward, consumer = client_for(member_admin), client_for(data_steward), client_for(other_analyst)
    auditors = client_for(auditor)
    requested = post_request(consumer, published(data_steward, tier="restricted"))  # before credit: no fee
    activate()
    admit(member)
    person = {"username": "newbie", "email": "n@own.example", "role": "analyst"}
    proposal = {"member": member.pk, "amount_mcr": 5_000, "reason": "Data donated at the kick-off."}
    creations = [
        (admin, admin.post("/api/v1/users/", person, format="json"), lambda b: f"/api/v1/users/{b['id']}/"),
        (
            admin,
            admin.post("/api/v1/api-keys/", {"name": "erp", "scopes": ["read"]}, format="json"),
            lambda b: f"/api/v1/api-keys/{b['prefix']}/",
        ),
        (
            steward,
            steward.post("/api/v1/datasets/", {**DATASET_RECORD, "title": "New"}, format="json"),
            lambda b: f"/api/v1/datasets/{b['id']}/",
        ),
        (consumer, requested, lambda b: f"/api/v1/access-requests/{b['request']['id']}/"),
        (
            auditors,
            auditors.post("/api/v1/credit/adjustments/", proposal, format="json"),
            lambda b: f"/api/v1/credit/adjustments/{b['id']}/",
        ),
    ]
    for creator, response, detail_of in creations:  # each address answers its creator
        path = _location(response, detail_of)
        assert creator.get(path).status_code == 200, path
    # an application names the member record it made (its applicant, anonymous, may not read it)
    application = api_client.post("/api/v1/members/", APPLICATION, format="json")
    _location(application, lambda b: f"/api/v1/members/{b['id']}/")
