"""What the exchange's pages tell a person: labels instead of stored codes, empty states that say what to
do next, links from a request to its dataset, grant and signed receipts."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.urls import reverse

from tests.exchange.support import as_user, published, request_access

pytestmark = pytest.mark.django_db


def text(response: Any) -> str:
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_a_policy_shows_its_purposes_and_size_classes_by_their_labels(data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="restricted", eligible_size_classes=["large", "micro"])
    page = text(as_user(other_analyst).get(reverse("portal:dataset-detail", args=[dataset.pk])))
    assert "<dt>Purposes</dt><dd>Quality benchmarking, Research</dd>" in page
    assert "Large, Micro" in page
    assert "the owner's data steward decides" in page  # what the tier means
    assert f'title="{dataset.versions.get().size} bytes"' in page  # the exact size beside the rounded one


def test_empty_lists_say_what_to_do_next(analyst, data_steward) -> None:
    client = as_user(analyst)
    assert "has not requested any dataset yet" in text(client.get(reverse("portal:my-requests")))
    assert "No grant yet" in text(client.get(reverse("portal:grant-list")))
    steward = as_user(data_steward)
    assert "Nothing is waiting for a decision." in text(steward.get(reverse("portal:incoming-requests")))
    assert "No dataset is listed yet." in text(client.get(reverse("portal:catalog")))


def test_a_request_links_to_its_dataset_grant_and_receipts(data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="open")
    request = request_access(other_analyst, dataset)
    client = as_user(other_analyst)
    page = text(client.get(reverse("portal:request-detail", args=[request.pk])))
    assert reverse("portal:dataset-detail", args=[dataset.pk]) in page
    assert reverse("portal:grant-detail", args=[request.grant.pk]) in page
    assert f"/api/v1/access-requests/{request.pk}/receipts/" in page
    assert "Request submitted" in page and "Grant issued" in page  # ledger entries in words
    grant_page = text(client.get(reverse("portal:grant-detail", args=[request.grant.pk])))
    assert f"/api/v1/access-requests/{request.pk}/receipts/" in grant_page
    listing = text(client.get(reverse("portal:my-requests")))
    assert reverse("portal:dataset-detail", args=[dataset.pk]) in listing


def test_lists_that_take_several_choices_say_how(data_steward) -> None:
    page = text(as_user(data_steward).get(reverse("portal:my-datasets")))
    assert "Hold Ctrl (⌘ on a Mac) to choose more than one." in page


@pytest.mark.parametrize(
    ("tier", "deciders"),
    [
        ("restricted", "the owner's data steward decides."),
        ("confidential", "the owner's data steward decides, then a security officer."),
    ],
)
def test_a_submitted_request_says_who_decides_it_as_the_services_do(
    data_steward, other_analyst, tier, deciders
) -> None:
    dataset = published(data_steward, tier=tier)
    client = as_user(other_analyst)
    form = {
        "purpose": "research",
        "justification": "Benchmark our spindles.",
        "duration_days": 30,
        "accept_terms": "on",
        "terms_version": dataset.policy.terms_version,
    }
    response = client.post(reverse("portal:dataset-detail", args=[dataset.pk]), form)
    assert response.status_code == 302
    page = text(client.get(response["Location"]))
    assert f"Your request is submitted; {deciders}" in page
    if tier == "confidential":  # the dataset page says the same; no "consortium officer" decides
        detail = text(as_user(other_analyst).get(reverse("portal:dataset-detail", args=[dataset.pk])))
        assert "the owner's data steward, then a security officer decide" in detail
        assert "consortium officer" not in detail.lower()


def test_home_counts_what_waits_for_each_user_and_links_to_where_it_is_done(
    data_steward, other_analyst, security_officer, analyst
) -> None:
    restricted = published(data_steward, tier="restricted")
    confidential = published(data_steward, tier="confidential")
    request_access(other_analyst, restricted)
    request_access(other_analyst, published(data_steward, tier="restricted"))
    sent_on = request_access(other_analyst, confidential)
    incoming = reverse("portal:incoming-requests")
    home = text(as_user(data_steward).get(reverse("portal:home")))
    assert f'<a href="{incoming}"><strong data-waiting="3">3</strong> access requests waiting' in home
    assert "Waiting for you" not in text(as_user(security_officer).get(reverse("portal:home")))
    from exchange import services

    services.access_request_approve(actor=data_steward, request=sent_on)
    home = text(as_user(security_officer).get(reverse("portal:home")))
    assert f'<a href="{incoming}"><strong data-waiting="1">1</strong> access request waiting for your' in home
    mine = f"{reverse('portal:my-requests')}?state=waiting"
    home = text(as_user(other_analyst).get(reverse("portal:home")))
    assert f'<a href="{mine}"><strong data-waiting="3">3</strong> requests of your member waiting' in home
    assert "Waiting for you" not in text(as_user(analyst).get(reverse("portal:home")))


@pytest.mark.parametrize("who", ["data_steward", "analyst", "member_admin", "security_officer", "auditor"])
def test_every_thing_the_home_page_says_you_may_do_links_to_a_page_you_may_open(request, who) -> None:
    import re

    client = as_user(request.getfixturevalue(who))
    home = text(client.get(reverse("portal:home")))
    section = home.split("You may:", 1)[1].split("</ul>", 1)[0]
    links = re.findall(r'<li><a href="([^"]+)">', section)
    assert links and len(links) + section.count("(through the API)") == section.count("<li>")
    for url in links:
        assert client.get(url).status_code == 200, url
