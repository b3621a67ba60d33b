"""The demo: `seed_demo` loads the exchange through the services, once, and the ledger verifies after it."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from consortium.models import User
from exchange.models import (
    AccessPolicy,
    AccessRequest,
    Dataset,
    DatasetVersion,
    Grade,
    Grant,
    RequestState,
    Tier,
)
from ledger.credit.audit import credit_audit
from ledger.credit.models import CreditEpoch, CreditTransfer
from ledger.models import LedgerEntry
from ledger.services import ledger_sequence

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _demo_settings(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DEBUG = True  # seed_demo refuses to load published logins otherwise


def snapshot() -> dict[str, int]:
    return {
        "datasets": Dataset.objects.count(),
        "policies": AccessPolicy.objects.count(),
        "versions": DatasetVersion.objects.count(),
        "requests": AccessRequest.objects.count(),
        "grants": Grant.objects.count(),
        "entries": LedgerEntry.objects.count(),
    }


def test_seed_demo_twice_creates_every_tier_grade_and_state_once_and_the_ledger_verifies() -> None:
    first = StringIO()
    call_command("seed_demo", stdout=first)
    after_first = snapshot()
    assert "Demo exchange: " in first.getvalue() and "new record(s)" in first.getvalue()

    second = StringIO()
    call_command("seed_demo", stdout=second)
    assert snapshot() == after_first
    assert "Demo exchange already loaded." in second.getvalue()

    assert set(AccessPolicy.objects.values_list("tier", flat=True)) == set(Tier.values)
    assert set(Dataset.objects.values_list("grade", flat=True)) == set(Grade.values)
    core = Dataset.objects.get(grade=Grade.LEVEL_3)
    assert not AccessPolicy.objects.filter(dataset=core).exists()
    assert not core.versions.exists()  # metadata only
    for dataset in Dataset.objects.exclude(grade=Grade.LEVEL_3):
        version = dataset.versions.get(withdrawn_at__isnull=True)
        assert 1024 <= version.size <= 16 * 1024 and version.media_type == "text/csv"
    # One version is withdrawn, through the service: the row and file stay, a ledger entry records it.
    withdrawn = DatasetVersion.objects.get(withdrawn_at__isnull=False)
    assert (
        withdrawn.number == 1
        and withdrawn.withdrawn_reason
        and withdrawn.file.storage.exists(withdrawn.file.name)
    )
    assert withdrawn.dataset.versions.get(withdrawn_at__isnull=True).number == 2
    (entry,) = LedgerEntry.objects.filter(kind="dataset.version_withdrawn")
    assert (entry.subject_id, entry.actor_user_id) == (str(withdrawn.dataset_id), withdrawn.withdrawn_by_id)
    derived = Dataset.objects.filter(sources__isnull=False).get()  # lineage: takes its source's grade
    assert derived.grade == derived.sources.get().grade

    states = list(AccessRequest.objects.values_list("state", flat=True))
    assert set(states) == set(RequestState.values)
    assert states.count(RequestState.PENDING) == 1
    assert states.count(RequestState.STEWARD_APPROVED) == 1
    for state in (RequestState.REJECTED, RequestState.WITHDRAWN, RequestState.EXPIRED):
        assert states.count(state) == 1

    expired = AccessRequest.objects.get(state=RequestState.EXPIRED)
    assert expired.created_at <= expired.closed_at <= timezone.now()

    grants = Grant.objects.all()
    assert grants.filter(revoked_at__isnull=False).count() == 1
    used = grants.get(dataset__title="CNC spindle vibration, 2025")
    assert used.downloads_remaining == used.download_quota - 2
    assert grants.filter(tier=Tier.CONFIDENTIAL, download_quota=0).count() == 1
    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert {
        "dataset.registered",
        "dataset.policy_set",
        "dataset.version_added",
        "dataset.version_withdrawn",
        "access.requested",
        "access.approved",
        "access.granted",
        "access.rejected",
        "access.withdrawn",
        "access.expired",
        "access.revoked",
        "data.downloaded",
    } <= kinds
    # 3 in the exchange scenarios, 3 for each of the credit demo's 8 uses
    assert LedgerEntry.objects.filter(kind="data.downloaded").count() == 3 + 8 * 3

    ledger_sequence()
    out = StringIO()
    call_command("ledger_verify", "--no-progress", stdout=out)
    assert out.getvalue().startswith(f"OK (fast): {LedgerEntry.objects.count()} entries")


def test_the_demo_settles_an_epoch_with_a_held_mint_a_flag_of_each_kind_and_audits_clean() -> None:
    call_command("seed_demo", stdout=StringIO())
    (settled,) = CreditEpoch.objects.filter(settled_order__gte=0)
    rules = {flag["rule"] for flag in settled.settlement["flags"]}
    assert rules == {
        "duplicate_listing",
        "reciprocity",
        "ring",
        "fresh_cluster",
        "concentration",
        "rubber_stamp",
    }
    mints = CreditTransfer.objects.filter(code="mint")
    assert mints.filter(flag="pending").exists() and mints.filter(flag="posted").exists()
    assert settled.settlement["held"] == sum(mints.filter(flag="pending").values_list("amount", flat=True))
    assert credit_audit().ok
    # the demo's auditor sees the epoch's leaderboard, with minted and held credit (issue 5: "visible")
    client = Client()
    client.force_login(User.objects.get(username="auditor"))
    rows = client.get(f"/api/v1/credit/leaderboard/{settled.epoch}/").json()["results"]
    assert len(rows) >= 2 and [row["rank"] for row in rows][:2] == [1, 2]
    assert any(row["minted"] > 0 and not row["held"] for row in rows) and any(row["held"] > 0 for row in rows)
    page = client.get("/credit/leaderboard/", {"epoch": settled.epoch})
    assert page.status_code == 200
    assert all(escape(row["label"]) in page.content.decode() for row in rows)


def test_every_demo_login_opens_every_exchange_page_without_an_error() -> None:
    """Each demo person and officer, on every page and every record: 200 or 404, never a server error."""
    call_command("seed_demo", stdout=StringIO())
    lists = ["catalog", "my-datasets", "my-requests", "incoming-requests", "grant-list"]
    urls = [reverse(f"portal:{name}") for name in lists]
    urls += [
        reverse("portal:incoming-requests") + "?state=",
        reverse("portal:catalog") + "?tier=open&grade=1",
    ]
    urls += [
        reverse("portal:dataset-detail", args=[pk]) for pk in Dataset.objects.values_list("pk", flat=True)
    ]
    urls += [
        reverse("portal:request-detail", args=[pk])
        for pk in AccessRequest.objects.values_list("pk", flat=True)
    ]
    urls += [reverse("portal:grant-detail", args=[pk]) for pk in Grant.objects.values_list("pk", flat=True)]
    seen: dict[str, int] = {}
    for user in User.objects.filter(is_active=True).exclude(member_role="system"):
        client = Client()
        client.force_login(user)
        for url in urls:
            status = client.get(url).status_code
            assert status in (200, 404), (user.username, url, status)
            seen[url] = seen.get(url, 0) + (status == 200)
    assert all(seen.values()), [url for url, count in seen.items() if not count]  # someone sees each one
    steward = Client()
    steward.force_login(User.objects.get(username="huaxin-steward"))
    waiting = steward.get(reverse("portal:incoming-requests")).content.decode()
    assert "Machined part inspection records" in waiting  # lingxi's pending request
