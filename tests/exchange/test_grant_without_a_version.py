"""A grant of a dataset with no version to download (none yet, or every one withdrawn): its page offers
no download that would be refused, and says why, in the API's words; the button comes with a version."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.urls import reverse

from exchange import services
from exchange.models import Dataset
from tests.api.test_problems import assert_problem
from tests.exchange.support import add_version, as_user, register, request_access, set_policy

pytestmark = pytest.mark.django_db

BUTTON = "Download the latest version"
NO_VERSION = "This dataset has no version that may be downloaded (none yet, or every one is withdrawn)."


def test_a_grant_page_offers_a_download_only_when_there_is_a_version(
    client_for: Any, data_steward: Any, other_analyst: Any
) -> None:
    dataset = register(data_steward)
    set_policy(data_steward, dataset, tier="open")
    grant = request_access(other_analyst, Dataset.objects.get(pk=dataset.pk)).grant
    page_url = reverse("portal:grant-detail", args=[grant.pk])

    def page() -> str:
        return html.unescape(as_user(other_analyst).get(page_url).content.decode())

    assert BUTTON not in page() and NO_VERSION in page()
    api = client_for(other_analyst).post(f"/api/v1/grants/{grant.pk}/download/")
    assert assert_problem(api, 409, "no_version_available")["detail"] == NO_VERSION

    add_version(data_steward, dataset)
    assert BUTTON in page() and NO_VERSION not in page()

    (version,) = dataset.versions.all()
    services.dataset_version_withdraw(actor=data_steward, version=version, reason="Wrong units.")
    assert BUTTON not in page() and NO_VERSION in page()
