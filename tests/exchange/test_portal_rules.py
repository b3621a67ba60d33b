"""The portal offers exactly what the services accept (one rule, asked of the services), core data takes no
version in either face, and the request and grant lists cost the same queries whatever the page size."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from consortium.errors import Conflict, ServiceError
from exchange import selectors, services
from exchange.models import AccessRequest, Dataset, Grant, RequestState
from ledger.models import LedgerEntry
from tests.exchange.support import published, register, request_access
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

UPLOAD_FORM = "Upload a new version"
DOWNLOAD_BUTTON = "Download the latest version"
REVOKE_BUTTON = "Revoke the grant"


def _page(user: Any, name: str, *args: Any, **query: Any) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(reverse(name, args=args), query)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


# --- Core data takes no version ---------------------------------------------------------------------------


def test_core_dataset_page_offers_its_steward_no_upload_form_and_the_service_refuses(data_steward) -> None:
    core = register(data_steward, grade=3, title="Core recipes")
    page = _page(data_steward, "portal:dataset-detail", core.pk)
    assert "metadata only" in page
    assert UPLOAD_FORM not in page and "the policy" not in page
    assert "Withdraw the dataset" in page  # still the owner's to manage
    assert services.dataset_version_addable_by(actor=data_steward, dataset=core) is False

    entries = LedgerEntry.objects.count()
    with pytest.raises(Conflict) as refused:
        services.dataset_version_add(
            actor=data_steward,
            dataset=core,
            file=ContentFile(b"a,b\n1,2\n", name="recipe.csv"),
            filename="recipe.csv",
            media_type="text/csv",
        )
    assert refused.value.code == "core_data_not_offered"
    assert not core.versions.exists() and LedgerEntry.objects.count() == entries


def test_level_2_dataset_page_still_offers_its_steward_the_upload_form(data_steward) -> None:
    dataset = register(data_steward, grade=2)
    assert UPLOAD_FORM in _page(data_steward, "portal:dataset-detail", dataset.pk)
    assert services.dataset_version_addable_by(actor=data_steward, dataset=dataset) is True


# --- The grant page offers what the services accept ------------------------------------------------------


class _Rollback(Exception):
    pass


def _accepted(call: Any) -> bool:
    """Whether the service call succeeds; whatever it did is rolled back."""
    try:
        with transaction.atomic():
            result = call()
            if isinstance(result, tuple) and len(result) == 4:
                result[3].close()  # grant_download's open file
            raise _Rollback
    except _Rollback:
        return True
    except ServiceError:
        return False


def _grant(owner_steward: Any, requester: Any, *, tier: str, approvers: list[Any]) -> Grant:
    dataset = published(owner_steward, tier=tier, **({"download_quota": 1} if tier != "confidential" else {}))
    request = request_access(requester, dataset)
    for approver in approvers:
        services.access_request_approve(actor=approver, request=request, reason="Fine.")
    return Grant.objects.get(request=request)


@pytest.fixture
def grants(data_steward, other_analyst, security_officer) -> dict[str, Grant]:
    made = {
        name: _grant(data_steward, other_analyst, tier="restricted", approvers=[data_steward])
        for name in ("active", "exhausted", "revoked", "expired")
    }
    made["confidential"] = _grant(
        data_steward, other_analyst, tier="confidential", approvers=[data_steward, security_officer]
    )
    _, _, _, handle = services.grant_download(actor=other_analyst, grant=made["exhausted"])
    handle.close()
    services.grant_revoke(actor=data_steward, grant=made["revoked"], reason="Ended.")
    now = timezone.now()
    Grant.objects.filter(pk=made["expired"].pk).update(
        valid_from=now - timedelta(days=31), valid_until=now - timedelta(seconds=1)
    )
    assert services.grant_expire_due() == 1
    return {name: Grant.objects.select_related("dataset").get(pk=grant.pk) for name, grant in made.items()}


@pytest.mark.parametrize("who", ["other_analyst", "other_admin", "data_steward", "officer", "auditor"])
def test_the_grant_page_offers_download_and_revoke_exactly_when_the_services_accept(
    request: pytest.FixtureRequest, grants: dict[str, Grant], who: str
) -> None:
    actor = request.getfixturevalue(who)
    for situation, grant in grants.items():
        page = _page(actor, "portal:grant-detail", grant.pk)
        downloads = _accepted(lambda grant=grant: services.grant_download(actor=actor, grant=grant))
        revokes = _accepted(lambda grant=grant: services.grant_revoke(actor=actor, grant=grant, reason="x"))
        assert (DOWNLOAD_BUTTON in page, REVOKE_BUTTON in page) == (downloads, revokes), (who, situation)
        now = timezone.now()
        assert services.grant_downloadable_by(actor=actor, grant=grant, now=now) is downloads
        assert services.grant_revocable_by(actor=actor, grant=grant, now=now) is revokes
    if who == "other_analyst":
        assert _accepted(lambda: services.grant_download(actor=actor, grant=grants["active"]))


def test_policy_member_choices_are_the_owners_alone(data_steward, other_analyst, other_member) -> None:
    dataset = register(data_steward)
    assert other_member in selectors.policy_member_choices_for(user=data_steward, dataset=dataset)
    assert data_steward.member not in selectors.policy_member_choices_for(user=data_steward, dataset=dataset)
    assert not selectors.policy_member_choices_for(user=other_analyst, dataset=dataset).exists()


# --- Query counts of the list pages -----------------------------------------------------------------------


@pytest.fixture
def hundred_grants(data_steward) -> Dataset:
    """100 granted requests (and their grants) on datasets of `data_steward`'s member, each by another
    member, written in bulk: what the list pages read, not how it came about."""
    template = published(data_steward, tier="restricted")
    request = AccessRequest.objects.bulk_create(
        AccessRequest(
            dataset=template,
            requester_member=(member := MemberFactory(legal_name=f"Requester {n:03}")),
            requester=UserFactory(username=f"requester-{n}", member=member, member_role="analyst"),
            purpose="research",
            justification="Benchmark.",
            duration_days=30,
            tier="restricted",
            policy_hash="0" * 64,
            accepted_terms_version=1,
            state=RequestState.GRANTED,
            created_at=timezone.now(),
            steward_decided_by=data_steward,
        )
        for n in range(100)
    )
    now = timezone.now()
    Grant.objects.bulk_create(
        Grant(
            request=r,
            dataset=template,
            grantee_id=r.requester_member_id,
            tier="restricted",
            purpose="research",
            policy_hash="0" * 64,
            valid_from=now,
            valid_until=now + timedelta(days=30),
            download_quota=3,
            downloads_remaining=3,
            revoked_at=now if n % 3 == 0 else None,
            revoked_by=data_steward if n % 3 == 0 else None,
        )
        for n, r in enumerate(request)
    )
    return template


def _rows(page: str, detail: str) -> int:
    """How many links to a record's detail page (`detail`, a URL name) `page` holds: its rows."""
    prefix = reverse(detail, args=[1]).removesuffix("1/")
    return len(re.findall(rf'href="{re.escape(prefix)}\d+/"', page))


@pytest.mark.parametrize(
    ("name", "query", "detail"),
    [
        ("portal:incoming-requests", {"state": ""}, "portal:request-detail"),
        ("portal:grant-list", {}, "portal:grant-detail"),
    ],
)
@pytest.mark.parametrize("who", ["data_steward", "officer"])
def test_list_pages_cost_the_same_queries_at_page_sizes_10_and_100(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: Any,
    hundred_grants: Dataset,
    name: str,
    query: dict[str, str],
    detail: str,
    who: str,
) -> None:
    user = request.getfixturevalue(who)
    if who == "officer" and name == "portal:incoming-requests":
        user = request.getfixturevalue("auditor")  # officers decide nothing: the auditor reads every request
    monkeypatch.setattr("consortium.paging.PAGE_SIZE", 10)
    _page(user, name, **query)  # warm: the session and the user's first queries
    with CaptureQueriesContext(connection) as at_10:
        small = _page(user, name, **query)
    monkeypatch.setattr("consortium.paging.PAGE_SIZE", 100)
    with django_assert_num_queries(len(at_10)):
        large = _page(user, name, **query)
    assert (_rows(small, detail), _rows(large, detail)) == (10, 100)
