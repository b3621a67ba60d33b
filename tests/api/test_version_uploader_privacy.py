"""A dataset version names its uploader only to those who may see that person (consortium.selectors
.user_list_for): the uploader, their member's admins and consortium officers. Other members reading the
versions of a dataset they may see get null: nobody sees another member's people, in the API as in the
portal (which names no uploader)."""

from __future__ import annotations

import pytest

from tests.exchange.support import published

pytestmark = pytest.mark.django_db


def _uploaders(client, dataset) -> list:
    response = client.get(f"/api/v1/datasets/{dataset.pk}/versions/")
    assert response.status_code == 200, response.content
    return [version["created_by"] for version in response.json()]


def test_the_uploader_is_named_only_to_who_may_see_the_person(
    client_for, data_steward, member_admin, analyst, other_analyst, other_admin, officer, auditor
) -> None:
    dataset = published(data_steward, tier="open")
    name = data_steward.username
    seen = {
        who.username: _uploaders(client_for(who), dataset)
        for who in (data_steward, member_admin, officer, auditor, analyst, other_analyst, other_admin)
    }
    assert seen == {
        data_steward.username: [name],  # the uploader
        member_admin.username: [name],  # their member's admin
        officer.username: [name],
        auditor.username: [None],  # the directory is the officers'
        analyst.username: [None],  # a colleague who sees only themselves in the directory
        other_analyst.username: [None],  # other members' people
        other_admin.username: [None],
    }
    for who in (analyst, other_analyst, other_admin):  # as the directory has it
        assert client_for(who).get(f"/api/v1/users/{data_steward.pk}/").status_code == 404


def test_an_upload_and_a_withdrawal_name_the_uploader_to_the_steward(client_for, data_steward) -> None:
    dataset = published(data_steward, tier="open")
    client = client_for(data_steward)
    uploaded = client.post(f"/api/v1/datasets/{dataset.pk}/versions/", {"file": _file()}, format="multipart")
    assert uploaded.status_code == 201, uploaded.content
    assert uploaded.json()["created_by"] == data_steward.username
    withdrawn = client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/1/withdraw/", {"reason": "Superseded."}, format="json"
    )
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["created_by"] == data_steward.username


def _file():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("readings.csv", b"t,v\n1,2\n", content_type="text/csv")
