"""A grant says how its data arrives: a confidential-tier grant is for on-platform use only.

The partner walkthrough found a confidential grant active with quota 0 and its download refused (403
no_raw_download), with nothing in the grant telling what it is for (DESIGN.md: "no raw download: on-platform
use only"). The grant now has a `delivery`, and the refusal says the grant gives no raw download.
"""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from exchange import services
from exchange.models import Grant
from tests.api.test_problems import assert_problem
from tests.exchange.support import published, request_access

pytestmark = pytest.mark.django_db


def test_a_confidential_grant_says_it_is_for_on_platform_use_only(
    client_for, data_steward, other_analyst, security_officer
) -> None:
    request = request_access(other_analyst, published(data_steward, tier="confidential"))
    services.access_request_approve(actor=data_steward, request=request, reason="ok")
    services.access_request_approve(actor=security_officer, request=request, reason="ok")
    grant = Grant.objects.get(request=request)
    client = client_for(other_analyst)
    shown = client.get(f"/api/v1/grants/{grant.pk}/").json()
    assert shown["delivery"] == "on_platform" and shown["download_quota"] == 0
    body = assert_problem(client.post(f"/api/v1/grants/{grant.pk}/download/"), 403, "no_raw_download")
    assert "on the platform only" in body["detail"] and "no raw download" in body["detail"]


def test_a_downloadable_grant_says_so(client_for, data_steward, other_analyst) -> None:
    grant = Grant.objects.get(request=request_access(other_analyst, published(data_steward, tier="open")))
    assert client_for(other_analyst).get(f"/api/v1/grants/{grant.pk}/").json()["delivery"] == "download"


def test_the_schema_documents_the_delivery() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    delivery = schema["components"]["schemas"]["Grant"]["properties"]["delivery"]
    ref = (delivery.get("allOf") or [delivery])[0].get("$ref")
    if ref:
        delivery = {**schema["components"]["schemas"][ref.rsplit("/", 1)[1]], **delivery}
    assert sorted(delivery["enum"]) == ["download", "on_platform"]
    assert "on-platform use only" in delivery["description"]
