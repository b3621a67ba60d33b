"""The same file uploaded again to a dataset is refused (409 duplicate_version, naming the version that has
its SHA-256) in the service, the API and the portal, and stores and writes nothing; other content, the same
bytes in another dataset, and the bytes of a withdrawn version are still added."""

from __future__ import annotations

import hashlib
import html
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from consortium.errors import Conflict
from exchange import services
from exchange.models import DatasetVersion
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import CONTENT, add_version, as_user, register

pytestmark = pytest.mark.django_db

OTHER = b"sensor,value\nline,2\n"


def _written() -> tuple[int, int]:
    return DatasetVersion.objects.count(), LedgerEntry.objects.count()


def test_the_service_refuses_the_same_content_and_names_the_version(data_steward: Any) -> None:
    dataset = register(data_steward)
    add_version(data_steward, dataset)
    add_version(data_steward, dataset, OTHER)
    before = _written()
    with pytest.raises(Conflict) as refused:
        add_version(data_steward, dataset)
    assert refused.value.code == "duplicate_version" and refused.value.extra == {"version": 1}
    assert (
        f"Version 1 of this dataset already has this content (SHA-256 {hashlib.sha256(CONTENT).hexdigest()})"
        in (refused.value.detail)
    )
    assert _written() == before


def test_the_same_bytes_in_another_dataset_and_after_a_withdrawal_are_added(data_steward: Any) -> None:
    first, second = register(data_steward), register(data_steward, title="Spindle vibration, line 2")
    add_version(data_steward, first)
    assert add_version(data_steward, second).number == 1
    services.dataset_version_withdraw(
        actor=data_steward, version=first.versions.get(number=1), reason="Calibration error."
    )
    assert add_version(data_steward, first).number == 2


def test_the_api_answers_409_duplicate_version(client_for: Any, data_steward: Any) -> None:
    dataset = register(data_steward)
    add_version(data_steward, dataset)
    before = _written()
    upload = SimpleUploadedFile("again.csv", CONTENT, content_type="text/csv")
    body = assert_problem(
        client_for(data_steward).post(
            f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload}, format="multipart"
        ),
        409,
        "duplicate_version",
    )
    assert body["version"] == 1
    assert _written() == before


def test_the_portal_says_which_version_has_the_file_already(data_steward: Any) -> None:
    dataset = register(data_steward)
    add_version(data_steward, dataset)
    before = _written()
    upload = SimpleUploadedFile("again.csv", CONTENT, content_type="text/csv")
    response = as_user(data_steward).post(
        reverse("portal:dataset-version-upload", args=[dataset.pk]), {"file": upload}
    )
    assert response.status_code == 409
    assert "Version 1 of this dataset already has this content" in html.unescape(response.content.decode())
    assert _written() == before
