"""The exchange's journeys as the people who use the portal walk them: what each page tells them before
they act, where a refusal is shown, and which page leads to the related ones."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.urls import reverse

from consortium.errors import ServiceError
from exchange import services
from tests.exchange.support import as_user, published, request_access

pytestmark = pytest.mark.django_db


def page_text(response: Any) -> str:
    """The page's visible text, tags dropped and spaces collapsed."""
    assert response.status_code in (200, 400), response.status_code
    body = response.content.decode().split("<main", 1)[1]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def dataset_page(user: Any, dataset: Any) -> tuple[str, str]:
    """The dataset's page for `user`: its markup and its text."""
    response = as_user(user).get(reverse("portal:dataset-detail", args=[dataset.pk]))
    return response.content.decode(), page_text(response)


def refusal_code(user: Any, dataset: Any) -> str | None:
    """The code the service refuses `user`'s request for `dataset` with; None if it would accept one."""
    from django.db import transaction

    try:
        with transaction.atomic():
            request_access(user, dataset)
            transaction.set_rollback(True)
    except ServiceError as error:
        return error.code
    return None


# --- The dataset's page says where the member stands before the request form --------------------------


def test_a_member_holding_a_grant_is_led_to_it_instead_of_a_request_the_service_refuses(
    data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted")
    approved, _ = services.access_request_approve(
        actor=data_steward, request=request_access(other_analyst, dataset)
    )
    grant = approved.grant
    markup, text = dataset_page(other_analyst, dataset)
    assert reverse("portal:grant-detail", args=[grant.pk]) in markup
    assert f"Your member holds Grant #{grant.pk} on this dataset" in text
    assert f"with {grant.downloads_remaining} of {grant.download_quota} downloads left" in text
    assert "Submit the request" not in text
    assert refusal_code(other_analyst, dataset) == "already_granted"  # what the page spares them

    services.grant_revoke(actor=data_steward, grant=grant, reason="Ended early.")
    markup, text = dataset_page(other_analyst, dataset)
    assert "Your member holds" not in text and "Submit the request" in text
    assert refusal_code(other_analyst, dataset) is None


def test_a_member_with_an_undecided_request_is_led_to_it(data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="restricted")
    waiting = request_access(other_analyst, dataset)
    markup, text = dataset_page(other_analyst, dataset)
    assert reverse("portal:request-detail", args=[waiting.pk]) in markup
    assert f"Your member's Request #{waiting.pk} for this dataset is waiting for a decision" in text
    assert "Pending (owner's steward decides)" in text
    assert "Submit the request" not in text
    assert refusal_code(other_analyst, dataset) == "duplicate_request"


def test_a_member_the_policy_leaves_out_is_told_why_before_it_writes_a_request(
    data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted", eligible_size_classes=["micro"])
    _, text = dataset_page(other_analyst, dataset)
    assert "Your member may not request this dataset under its policy" in text
    assert "enterprises are eligible" in text
    assert "Submit the request" not in text
    assert refusal_code(other_analyst, dataset) == "size_class_ineligible"


def test_an_eligible_member_with_nothing_pending_gets_the_form_and_the_owner_no_standing(
    data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted")
    _, text = dataset_page(other_analyst, dataset)
    assert "Submit the request" in text and "Your member's access" not in text
    _, text = dataset_page(data_steward, dataset)
    assert "Your member's access" not in text and "Submit the request" not in text
