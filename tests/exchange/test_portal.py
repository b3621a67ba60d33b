"""The exchange's portal pages as each role sees them: catalog, dataset pages, requests, decisions, grants."""

from __future__ import annotations

import hashlib
import html
import importlib
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from exchange.models import AccessPolicy, AccessRequest, Dataset, Grant, RequestState
from ledger.models import LedgerEntry
from tests.exchange.support import (
    CONTENT,
    REGISTRATION_FORM,
    add_version,
    as_user,
    published,
    register,
    set_policy,
)
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def third_analyst(db):
    return UserFactory(
        username="third-analyst", member=MemberFactory(legal_name="Third"), member_role="analyst"
    )


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def ask(user: Any, dataset: Dataset, **overrides: Any) -> Any:
    """Submit the request form of `dataset`'s page as `user`."""
    data = {
        "purpose": "research",
        "justification": "Benchmark our spindles against the consortium's.",
        "duration_days": 30,
        "accept_terms": "on",
        "terms_version": dataset.policy.terms_version,
        **overrides,
    }
    return as_user(user).post(reverse("portal:dataset-detail", args=[dataset.pk]), data)


# --- Who may open what ----------------------------------------------------------------------------------

PAGES = [
    "portal:catalog",
    "portal:my-datasets",
    "portal:my-requests",
    "portal:incoming-requests",
    "portal:grant-list",
]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("analyst", [200, 404, 200, 404, 200]),
        ("member_admin", [200, 404, 200, 404, 200]),
        ("data_steward", [200, 200, 200, 200, 200]),
        ("security_officer", [200, 404, 404, 200, 200]),
        ("officer", [200, 404, 404, 200, 200]),
        ("auditor", [200, 404, 404, 200, 200]),
    ],
)
def test_pages_open_per_role(request: pytest.FixtureRequest, who: str, expected: list[int]) -> None:
    client = as_user(request.getfixturevalue(who))
    assert [client.get(reverse(name)).status_code for name in PAGES] == expected


def test_a_suspended_member_s_people_read_its_requests_and_grants_but_open_no_other_exchange_page(
    analyst: Any, member: Any
) -> None:
    # Its requests and grants stay readable (a download or withdrawal under them is refused as
    # member_not_active, not hidden): tests/exchange/test_inactive_member_pages.py
    assert as_user(analyst).get(reverse("portal:grant-list")).status_code == 200
    member.status = "suspended"
    member.save(update_fields=["status"])
    assert [as_user(analyst).get(reverse(name)).status_code for name in PAGES] == [404, 404, 200, 404, 200]


@pytest.mark.parametrize("name", [*PAGES, "portal:requests"])
def test_anonymous_visitor_is_sent_to_login(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))


def test_nav_has_catalog_and_requests_and_requests_leads_to_the_roles_page(
    analyst: Any, security_officer: Any
) -> None:
    page = text(as_user(analyst).get(reverse("portal:home")))
    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert ">Catalog</a>" in nav and ">Requests</a>" in nav
    assert as_user(analyst).get(reverse("portal:requests"))["Location"] == reverse("portal:my-requests")
    assert as_user(security_officer).get(reverse("portal:requests"))["Location"] == reverse(
        "portal:incoming-requests"
    )


# --- Catalog and dataset pages --------------------------------------------------------------------------


def test_catalog_searches_filters_and_paginates(data_steward: Any, other_steward: Any, analyst: Any) -> None:
    open_one = published(data_steward, tier="open")
    restricted = published(other_steward, tier="restricted", grade=2)
    register(data_steward, title="Forging press energy", keywords=["energy"])
    client = as_user(analyst)

    page = text(client.get(reverse("portal:catalog")))
    assert "3 datasets" in page
    page = text(client.get(reverse("portal:catalog"), {"tier": "restricted"}))
    assert "1 dataset<" in page and restricted.title in page
    page = text(client.get(reverse("portal:catalog"), {"search": "energy"}))
    assert "1 dataset<" in page and "Forging press energy" in page
    page = text(client.get(reverse("portal:catalog"), {"owner": open_one.owner_id, "grade": 1}))
    assert "2 datasets" in page
    page = text(client.get(reverse("portal:catalog"), {"owner_size_class": "micro"}))
    assert "0 datasets" in page and "No dataset matches these filters" in page

    def first_grade(params: dict[str, Any]) -> str:
        body = text(client.get(reverse("portal:catalog"), params)).split("<tbody>", 1)[1]
        return "Level 2" if body.find("Level 2") < body.find("Level 1") else "Level 1"

    assert first_grade({}) == "Level 1"  # newest first: the forging dataset
    assert first_grade({"sort": "-grade"}) == "Level 2"

    for n in range(30):
        register(data_steward, title=f"Bulk {n}")
    page = text(client.get(reverse("portal:catalog"), {"search": "Bulk", "page": 2}))
    assert "Page 2 of 2" in page and "search=Bulk&amp;page=1" in page.replace("&", "&amp;")


def test_dataset_page_shows_metadata_policy_versions_and_lineage(
    data_steward: Any, other_analyst: Any
) -> None:
    source = published(data_steward, tier="restricted", max_duration_days=60, download_quota=4)
    derived = register(data_steward, title="Derived features", grade=None, source_ids=[source.pk])
    version = source.versions.get()
    page = text(as_user(other_analyst).get(reverse("portal:dataset-detail", args=[source.pk])))
    assert "Restricted" in page and "60 days" in page and "quality_benchmarking" in page
    assert version.sha256 in page and str(version.size) in page
    assert "Derived features" in page  # used by
    assert "Request access" in page and "Upload a new version" not in page
    derived_page = text(as_user(other_analyst).get(reverse("portal:dataset-detail", args=[derived.pk])))
    assert "Spindle vibration 2025" in derived_page  # derived from


def test_core_data_is_metadata_only(data_steward: Any, other_analyst: Any) -> None:
    core = register(data_steward, grade=3, title="Core recipes")
    page = text(as_user(other_analyst).get(reverse("portal:dataset-detail", args=[core.pk])))
    assert "metadata only" in page and "Request access" not in page


def test_the_dataset_page_says_why_there_is_no_policy_as_the_api_does(
    data_steward: Any, other_analyst: Any, client_for: Any
) -> None:
    core, unset = register(data_steward, grade=3, title="Core recipes"), register(data_steward, title="Unset")
    for dataset, code in ((core, "core_data_not_offered"), (unset, "no_policy")):
        said = client_for(other_analyst).get(f"/api/v1/datasets/{dataset.pk}/policy/").json()
        assert said["code"] == code
        for reader in (other_analyst, data_steward):
            page = text(as_user(reader).get(reverse("portal:dataset-detail", args=[dataset.pk])))
            assert said["detail"] in page, (code, reader)


def test_a_policy_posted_for_core_data_is_refused_for_the_grade_not_its_fields(data_steward: Any) -> None:
    core = register(data_steward, grade=3, title="Core recipes")
    entries = LedgerEntry.objects.count()
    for form in ({}, {"tier": "restricted", "purposes": ["research"], "price_credits": 0, "terms": "T."}):
        response = as_user(data_steward).post(
            reverse("portal:dataset-policy", args=[core.pk]), form, follow=True
        )
        page = text(response)
        assert response.redirect_chain == [(reverse("portal:dataset-detail", args=[core.pk]), 302)]
        assert page.count("Level 3 (core) data is offered as metadata only") == 2  # the message, the card
        assert "This field is required" not in page
    assert not AccessPolicy.objects.filter(dataset=core).exists() and LedgerEntry.objects.count() == entries


def test_core_dataset_refuses_a_version_upload_in_the_portal(data_steward: Any) -> None:
    core = register(data_steward, grade=3, title="Core recipes")
    entries = LedgerEntry.objects.count()
    upload = SimpleUploadedFile("recipe.csv", b"a,b\n1,2\n", content_type="text/csv")
    for form in ({"file": upload}, {}):
        # Refused for the grade, as in the API (409), not for the form's fields: the page offers no upload.
        response = as_user(data_steward).post(reverse("portal:dataset-version-upload", args=[core.pk]), form)
        page = text(response)
        assert response.status_code == 409
        assert page.count("Level 3 (core) data is offered as metadata only") == 2  # the message, the card
        assert "This field is required" not in page
    assert not core.versions.exists() and LedgerEntry.objects.count() == entries


def test_unknown_dataset_is_404(analyst: Any) -> None:
    assert as_user(analyst).get(reverse("portal:dataset-detail", args=[999999])).status_code == 404


# --- Requests -------------------------------------------------------------------------------------------


def test_request_through_the_portal_creates_a_pending_request(data_steward: Any, other_analyst: Any) -> None:
    dataset = published(data_steward, tier="restricted")
    response = ask(other_analyst, dataset)
    access_request = AccessRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:request-detail", args=[access_request.pk])
    assert access_request.state == RequestState.PENDING
    assert access_request.requester == other_analyst and access_request.purpose == "research"
    mine = text(as_user(other_analyst).get(reverse("portal:my-requests")))
    assert dataset.title in mine and "Withdraw" in mine


def test_open_request_is_granted_at_once(data_steward: Any, other_analyst: Any) -> None:
    dataset = published(data_steward, tier="open")
    response = ask(other_analyst, dataset)
    assert AccessRequest.objects.get().state == RequestState.GRANTED
    page = text(as_user(other_analyst).get(response["Location"]))
    assert "Granted" in page and "access.granted" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"accept_terms": ""}, "Accept version 1 of the dataset's terms"),
        ({"purpose": "ai_training"}, "The policy does not allow AI model training"),
        ({"duration_days": 5000}, "The policy allows at most"),
    ],
)
def test_service_refusals_show_on_the_request_form(
    data_steward: Any, other_analyst: Any, overrides: dict[str, Any], message: str
) -> None:
    dataset = published(data_steward, tier="open")
    entries = LedgerEntry.objects.count()
    response = ask(other_analyst, dataset, **overrides)
    assert response.status_code == 400
    assert message in text(response)
    assert not AccessRequest.objects.exists() and LedgerEntry.objects.count() == entries


def test_second_pending_request_is_refused_with_a_message(data_steward: Any, other_analyst: Any) -> None:
    dataset = published(data_steward, tier="restricted")
    ask(other_analyst, dataset)
    response = ask(other_analyst, dataset)
    assert response.status_code == 400
    assert "already has an undecided request" in text(response)
    assert AccessRequest.objects.count() == 1


def test_steward_approves_from_the_portal(data_steward: Any, other_analyst: Any) -> None:
    dataset = published(data_steward, tier="restricted")
    ask(other_analyst, dataset)
    access_request = AccessRequest.objects.get()
    incoming = text(as_user(data_steward).get(reverse("portal:incoming-requests")))
    assert f"#{access_request.pk}" in incoming
    url = reverse("portal:request-detail", args=[access_request.pk])
    assert "Approve" in text(as_user(data_steward).get(url))
    response = as_user(data_steward).post(url, {"action": "approve", "reason": "Fine."})
    assert response.status_code == 302
    access_request.refresh_from_db()
    assert access_request.state == RequestState.GRANTED
    assert Grant.objects.get(request=access_request).downloads_remaining > 0


def test_reject_without_reason_shows_the_error_and_changes_nothing(
    data_steward: Any, other_analyst: Any
) -> None:
    ask(other_analyst, published(data_steward, tier="restricted"))
    access_request = AccessRequest.objects.get()
    url = reverse("portal:request-detail", args=[access_request.pk])
    response = as_user(data_steward).post(url, {"action": "reject", "reason": ""})
    assert response.status_code == 400
    assert "A reason is required to reject a request." in text(response)
    access_request.refresh_from_db()
    assert access_request.state == RequestState.PENDING


def test_requester_cannot_approve_its_own_request(data_steward: Any, other_analyst: Any) -> None:
    ask(other_analyst, published(data_steward, tier="restricted"))
    access_request = AccessRequest.objects.get()
    url = reverse("portal:request-detail", args=[access_request.pk])
    # a decision the page does not offer them: the refusal is a message above the page as it is
    response = as_user(other_analyst).post(url, {"action": "approve"}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "Only the owner's data steward or a security officer" in text(response)
    access_request.refresh_from_db()
    assert access_request.state == RequestState.PENDING


def test_requester_withdraws_from_my_requests(data_steward: Any, other_analyst: Any) -> None:
    ask(other_analyst, published(data_steward, tier="restricted"))
    access_request = AccessRequest.objects.get()
    url = reverse("portal:request-detail", args=[access_request.pk])
    response = as_user(other_analyst).post(url, {"action": "withdraw"})
    assert response.status_code == 302
    access_request.refresh_from_db()
    assert access_request.state == RequestState.WITHDRAWN
    # a second tab's withdrawal: the page as it is now, with why nothing was done (no Decide card left
    # holding a reason box and no button)
    again = as_user(other_analyst).post(url, {"action": "withdraw"}, follow=True)
    assert again.redirect_chain == [(url, 302)]
    page = text(again)
    assert "Cannot withdraw a request that is withdrawn." in page and 'id="decide-heading"' not in page


def test_confidential_request_goes_from_steward_to_the_security_officers_queue(
    data_steward: Any, other_analyst: Any, security_officer: Any
) -> None:
    ask(other_analyst, published(data_steward, tier="confidential"))
    access_request = AccessRequest.objects.get()
    url = reverse("portal:request-detail", args=[access_request.pk])
    queue = reverse("portal:incoming-requests")
    assert f"#{access_request.pk}<" not in text(as_user(security_officer).get(queue))  # steward first
    as_user(data_steward).post(url, {"action": "approve", "reason": "Fits."})
    assert f"#{access_request.pk}<" in text(as_user(security_officer).get(queue))
    response = as_user(security_officer).post(url, {"action": "approve", "reason": "On platform."})
    assert response.status_code == 302
    access_request.refresh_from_db()
    assert access_request.state == RequestState.GRANTED
    grant = Grant.objects.get()
    page = text(as_user(other_analyst).get(reverse("portal:grant-detail", args=[grant.pk])))
    assert "used on the platform only" in page and "Download the latest version" not in page


def _approved_in_two_stages(*deciders: tuple[Any, str], requester: Any) -> AccessRequest:
    """A confidential request of `requester`'s, approved in the portal by each (person, reason) in turn."""
    steward = deciders[0][0]
    ask(requester, published(steward, tier="confidential"))
    access_request = AccessRequest.objects.get()
    url = reverse("portal:request-detail", args=[access_request.pk])
    for person, reason in deciders:
        assert as_user(person).post(url, {"action": "approve", "reason": reason}).status_code == 302
    access_request.refresh_from_db()
    return access_request


def test_the_stewards_reason_outlives_the_security_officers_decision(
    client_for: Any, data_steward: Any, other_analyst: Any, security_officer: Any
) -> None:
    """The record had one reason: the officer's decision (even with no reason) replaced the steward's."""
    access_request = _approved_in_two_stages(
        (data_steward, "Fits the pilot's scope."), (security_officer, ""), requester=other_analyst
    )
    url = reverse("portal:request-detail", args=[access_request.pk])
    page = text(as_user(other_analyst).get(url))
    assert "Steward's reason</dt><dd dir=\"auto\">Fits the pilot's scope.</dd>" in page
    body = client_for(other_analyst).get(f"/api/v1/access-requests/{access_request.pk}/").json()
    assert (body["steward_approval_reason"], body["decision_reason"]) == ("Fits the pilot's scope.", "")


def test_the_migration_reads_earlier_stewards_reasons_back_from_the_ledger(
    data_steward: Any, other_analyst: Any, security_officer: Any
) -> None:
    access_request = _approved_in_two_stages(
        (data_steward, "Fits."), (security_officer, "On platform."), requester=other_analyst
    )
    AccessRequest.objects.update(steward_approval_reason="")  # as a request decided before 0006
    migration = importlib.import_module("exchange.migrations.0006_request_steward_approval_reason")
    migration.keep_the_stewards_reasons(django_apps, None)
    access_request.refresh_from_db()
    assert (access_request.steward_approval_reason, access_request.decision_reason) == (
        "Fits.",
        "On platform.",
    )


def test_non_owner_gets_404_on_the_owners_request_and_grant_pages(
    data_steward: Any, other_analyst: Any, third_analyst: Any
) -> None:
    ask(other_analyst, published(data_steward, tier="open"))
    access_request, grant = AccessRequest.objects.get(), Grant.objects.get()
    outsider = as_user(third_analyst)
    assert outsider.get(reverse("portal:request-detail", args=[access_request.pk])).status_code == 404
    url = reverse("portal:request-detail", args=[access_request.pk])
    assert outsider.post(url, {"action": "withdraw"}).status_code == 404
    assert outsider.get(reverse("portal:grant-detail", args=[grant.pk])).status_code == 404
    assert outsider.post(reverse("portal:grant-download", args=[grant.pk])).status_code == 404
    assert outsider.post(reverse("portal:grant-revoke", args=[grant.pk]), {"reason": "x"}).status_code == 404
    assert f"#{access_request.pk}<" not in text(outsider.get(reverse("portal:grant-list")))
    grant.refresh_from_db()
    assert grant.revoked_at is None and grant.downloads_remaining == grant.download_quota


# --- Grants ---------------------------------------------------------------------------------------------


def test_grantee_downloads_and_owner_revokes_then_download_is_refused(
    data_steward: Any, other_analyst: Any
) -> None:
    ask(other_analyst, published(data_steward, tier="open", download_quota=2))
    grant = Grant.objects.get()
    detail = reverse("portal:grant-detail", args=[grant.pk])
    assert "Download the latest version" in text(as_user(other_analyst).get(detail))
    response = as_user(other_analyst).post(reverse("portal:grant-download", args=[grant.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CONTENT
    grant.refresh_from_db()
    assert grant.downloads_remaining == 1
    assert LedgerEntry.objects.filter(kind="data.downloaded").count() == 1

    owner_page = text(as_user(data_steward).get(detail))
    assert "Revoke the grant" in owner_page and "Download the latest version" not in owner_page
    refused = as_user(data_steward).post(reverse("portal:grant-revoke", args=[grant.pk]), {"reason": ""})
    assert refused.status_code == 400 and "A reason is required to revoke a grant." in text(refused)
    response = as_user(data_steward).post(
        reverse("portal:grant-revoke", args=[grant.pk]), {"reason": "Ended."}
    )
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_at is not None

    # revoking it again (a second tab): no form is left to show the refusal on, so it is a message
    again = as_user(data_steward).post(
        reverse("portal:grant-revoke", args=[grant.pk]), {"reason": "Twice."}, follow=True
    )
    assert again.redirect_chain == [(detail, 302)] and "already revoked" in text(again).lower()
    response = as_user(other_analyst).post(reverse("portal:grant-download", args=[grant.pk]), follow=True)
    assert "The grant was revoked at " in text(response) and "for this reason: Ended." in text(response)
    grant.refresh_from_db()
    assert grant.downloads_remaining == 1


def test_a_form_only_address_opened_as_a_link_says_what_it_is(
    client_for: Any, data_steward: Any, other_analyst: Any
) -> None:
    """Django's 405 was an empty page: someone who opened a revoke or download address saw nothing."""
    ask(other_analyst, published(data_steward, tier="open"))
    grant = Grant.objects.get()
    for name in ("portal:grant-revoke", "portal:grant-download"):
        response = as_user(data_steward).get(reverse(name, args=[grant.pk]))
        assert response.status_code == 405 and response["Allow"] == "POST"
        assert "This address is not a page" in text(response) and "nothing was done" in text(response)
    # the API's 405 stays a problem body
    api = client_for(data_steward).get(f"/api/v1/grants/{grant.pk}/revoke/")
    assert api.status_code == 405 and api.json()["code"] == "method_not_allowed"
    grant.refresh_from_db()
    assert grant.revoked_at is None


# --- Stewards' datasets ---------------------------------------------------------------------------------


def test_steward_registers_sets_policy_and_uploads_a_version(data_steward: Any) -> None:
    client = as_user(data_steward)
    response = client.post(reverse("portal:my-datasets"), REGISTRATION_FORM)
    dataset = Dataset.objects.get(title="Coolant temperatures")
    assert response["Location"] == reverse("portal:dataset-detail", args=[dataset.pk])
    assert dataset.keywords == ["coolant", "temperature"] and dataset.owner_id == data_steward.member_id

    refused = client.post(
        reverse("portal:dataset-policy", args=[dataset.pk]),
        {
            "tier": "confidential",
            "purposes": ["research"],
            "download_quota": 3,
            "price_credits": 0,
            "terms": "T",
        },
    )
    assert refused.status_code == 400 and "quota must be 0" in text(refused)
    response = client.post(
        reverse("portal:dataset-policy", args=[dataset.pk]),
        {"tier": "restricted", "purposes": ["research"], "price_credits": 0, "terms": "Use it well."},
    )
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert dataset.policy.tier == "restricted"

    content = b"a,b\n1,2\n" * 300
    upload = SimpleUploadedFile("coolant.csv", content, content_type="text/csv")
    response = client.post(reverse("portal:dataset-version-upload", args=[dataset.pk]), {"file": upload})
    assert response.status_code == 302
    version = dataset.versions.get()
    assert version.sha256 == hashlib.sha256(content).hexdigest() and version.size == len(content)

    bad = SimpleUploadedFile("coolant.csv", content, content_type="text/csv")
    response = client.post(
        reverse("portal:dataset-version-upload", args=[dataset.pk]),
        {"file": bad, "declared_sha256": "0" * 64},
    )
    assert response.status_code == 400 and "does not match" in text(response)
    assert dataset.versions.count() == 1
    assert "Coolant temperatures" in text(client.get(reverse("portal:my-datasets")))


def test_a_portal_upload_with_two_files_is_refused(data_steward: Any) -> None:
    dataset = register(data_steward)
    set_policy(data_steward, dataset)
    entries = LedgerEntry.objects.count()
    files = [SimpleUploadedFile(f"{n}.csv", b"a\n%d\n" % n, content_type="text/csv") for n in (1, 2)]
    response = as_user(data_steward).post(
        reverse("portal:dataset-version-upload", args=[dataset.pk]), {"file": files}
    )
    assert response.status_code == 400 and "one file per version" in text(response)
    assert not dataset.versions.exists() and LedgerEntry.objects.count() == entries


def test_only_the_owners_steward_sees_the_management_forms(data_steward: Any, other_steward: Any) -> None:
    dataset = register(data_steward)
    set_policy(data_steward, dataset)
    add_version(data_steward, dataset)
    own = text(as_user(data_steward).get(reverse("portal:dataset-detail", args=[dataset.pk])))
    assert "Upload a new version" in own and "Change the policy" in own and "Request access" not in own
    other = text(as_user(other_steward).get(reverse("portal:dataset-detail", args=[dataset.pk])))
    assert "Upload a new version" not in other and "Request access" in other
    upload = SimpleUploadedFile("x.csv", b"x,y\n", content_type="text/csv")
    response = as_user(other_steward).post(
        reverse("portal:dataset-version-upload", args=[dataset.pk]), {"file": upload}
    )
    assert response.status_code == 403 and "Only the owner's data stewards" in text(response)
    assert dataset.versions.count() == 1


def test_catalog_queries_do_not_grow_with_the_page(
    data_steward: Any, analyst: Any, django_assert_max_num_queries: Any
) -> None:
    for n in range(3):
        dataset = register(data_steward, title=f"Few {n}")
        set_policy(data_steward, dataset, tier="restricted")
        add_version(data_steward, dataset)
    client = as_user(analyst)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("portal:catalog")).status_code == 200
    for n in range(25):
        register(data_steward, title=f"Many {n}")
    with django_assert_max_num_queries(len(few)):
        assert client.get(reverse("portal:catalog")).status_code == 200


def test_owner_withdraws_a_dataset_with_a_reason(data_steward: Any, other_analyst: Any) -> None:
    dataset = published(data_steward, tier="restricted")
    url = reverse("portal:dataset-withdraw", args=[dataset.pk])
    refused = as_user(data_steward).post(url, {"reason": ""})
    assert refused.status_code == 400 and "A reason is required to withdraw a dataset." in text(refused)
    assert as_user(other_analyst).post(url, {"reason": "Mine now"}).status_code == 404  # not a steward
    assert as_user(data_steward).post(url, {"reason": "Sensor recalibrated."}).status_code == 302
    dataset.refresh_from_db()
    assert dataset.status == "withdrawn" and dataset.withdrawn_reason == "Sensor recalibrated."
    # A withdrawn dataset is its owner's to see.
    assert as_user(other_analyst).get(reverse("portal:dataset-detail", args=[dataset.pk])).status_code == 404
    assert "Sensor recalibrated." in text(
        as_user(data_steward).get(reverse("portal:dataset-detail", args=[dataset.pk]))
    )


def test_steward_withdraws_a_version_and_grants_fall_back(
    data_steward: Any, other_analyst: Any, officer: Any
) -> None:
    dataset = published(data_steward, tier="open", download_quota=5)
    add_version(data_steward, dataset, b"second,2\n")
    ask(other_analyst, dataset)
    grant = Grant.objects.get()
    page = reverse("portal:dataset-detail", args=[dataset.pk])
    url = reverse("portal:dataset-version-withdraw", args=[dataset.pk, 2])
    assert "Withdraw v2" in text(as_user(data_steward).get(page))
    assert "Withdraw v2" in text(as_user(officer).get(page))
    assert "Withdraw v2" not in text(as_user(other_analyst).get(page))
    entries = LedgerEntry.objects.count()
    refused = as_user(data_steward).post(url, {"reason": ""})
    assert refused.status_code == 400 and "A reason is required to withdraw a version." in text(refused)
    assert as_user(other_analyst).post(url, {"reason": "Mine now"}).status_code == 404  # not a steward
    assert LedgerEntry.objects.count() == entries
    response = as_user(data_steward).post(url, {"reason": "Wrong units."}, follow=True)
    assert "Version 2 is withdrawn" in text(response) and "Wrong units." in text(response)
    assert LedgerEntry.objects.filter(kind="dataset.version_withdrawn").count() == 1
    download = as_user(other_analyst).post(reverse("portal:grant-download", args=[grant.pk]))
    assert b"".join(download.streaming_content) == CONTENT  # v1: v2 is withdrawn
    v1 = reverse("portal:dataset-version-withdraw", args=[dataset.pk, 1])
    assert as_user(officer).post(v1, {"reason": "Superseded."}).status_code == 302
    refused = as_user(other_analyst).post(reverse("portal:grant-download", args=[grant.pk]), follow=True)
    assert "no version that may be downloaded" in text(refused)
    grant.refresh_from_db()
    assert grant.downloads_remaining == 4


def test_policy_form_sets_eligibility_and_the_engine_applies_it(
    data_steward: Any, other_analyst: Any, third_analyst: Any
) -> None:
    dataset = register(data_steward)
    add_version(data_steward, dataset)
    response = as_user(data_steward).post(
        reverse("portal:dataset-policy", args=[dataset.pk]),
        {
            "tier": "restricted",
            "purposes": ["research"],
            "price_credits": 5,
            "terms": "Research only.",
            "eligible_sectors": ["C"],
            "deny_list": [third_analyst.member_id],
        },
    )
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert dataset.policy.eligible_sectors == ["C"] and dataset.policy.deny_list == [third_analyst.member_id]
    refused = ask(third_analyst, dataset)
    assert refused.status_code == 400 and "does not share this dataset with your member" in text(refused)
    assert ask(other_analyst, dataset).status_code == 302
