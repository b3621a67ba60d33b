"""Every write of the exchange, failed right after its last ledger entry (and that entry's credit
transfers) was written, leaves nothing: no row, no entry, no transfer, no object permission, no stored
file, no mail, no after-commit hook, no task. With credit active, so the entries really post fees, uses,
refunds and voids before the failure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from exchange import services
from exchange.models import Grant
from ledger.credit.models import CreditTransfer
from tests.exchange.support import add_version, published, register, request_access, set_policy
from tests.factories import MemberFactory, UserFactory
from tests.failure_injection import nothing_left, nothing_left_at_commit
from tests.ledger.credit.support import activate, admit

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(data_steward, other_analyst):
    """Credit in force; the owner, a requester and a third member admitted (each holds an allowance)."""
    third = UserFactory(username="third-analyst", member=MemberFactory(), member_role="analyst")
    activate()
    admit(data_steward.member, other_analyst.member, third.member)
    return {"steward": data_steward, "requester": other_analyst, "third": third}


def _granted(world: dict[str, Any], **policy: Any) -> Grant:
    dataset = published(world["steward"], tier="restricted", **policy)
    request = request_access(world["requester"], dataset)
    services.access_request_approve(actor=world["steward"], request=request)
    return Grant.objects.get(request=request)


def register_dataset(world):
    return lambda: register(world["steward"], title="Never registered"), "dataset.registered", 1


def change_policy(world):
    dataset = published(world["steward"], tier="restricted")
    return lambda: set_policy(world["steward"], dataset, price_credits=5), "dataset.policy_set", 1


def upload_version(world):
    dataset = published(world["steward"], tier="open")
    return lambda: add_version(world["steward"], dataset, b"a,b\n1,2\n"), "dataset.version_added", 1


def withdraw_version(world):
    dataset = published(world["steward"], tier="open")
    version = dataset.versions.get()
    return (
        lambda: services.dataset_version_withdraw(actor=world["steward"], version=version, reason="Wrong."),
        "dataset.version_withdrawn",
        1,
    )


def withdraw_dataset_closing_requests(world):
    dataset = published(world["steward"], tier="confidential")
    request_access(world["requester"], dataset)
    services.access_request_approve(actor=world["steward"], request=request_access(world["third"], dataset))
    return (
        lambda: services.dataset_withdraw(actor=world["steward"], dataset=dataset, reason="Retired."),
        "access.withdrawn",
        2,  # the second request it closes: the dataset and the first request are written by then
    )


def submit_open_request(world):
    dataset = published(world["steward"], tier="open")
    return lambda: request_access(world["requester"], dataset), "access.granted", 1


def submit_restricted_request(world):
    dataset = published(world["steward"], tier="restricted", price_credits=10)
    return lambda: request_access(world["requester"], dataset), "access.requested", 1


def approve_restricted(world):
    request = request_access(world["requester"], published(world["steward"], tier="restricted"))
    return (
        lambda: services.access_request_approve(actor=world["steward"], request=request),
        "access.granted",
        1,
    )


def approve_confidential_as_steward(world):
    request = request_access(world["requester"], published(world["steward"], tier="confidential"))
    return (
        lambda: services.access_request_approve(actor=world["steward"], request=request),
        "access.approved",
        1,
    )


def reject(world):
    request = request_access(world["requester"], published(world["steward"], tier="restricted"))
    return (
        lambda: services.access_request_reject(actor=world["steward"], request=request, reason="No."),
        "access.rejected",
        1,
    )


def withdraw_request(world):
    request = request_access(world["requester"], published(world["steward"], tier="restricted"))
    return (
        lambda: services.access_request_withdraw(actor=world["requester"], request=request),
        "access.withdrawn",
        1,
    )


def revoke(world):
    grant = _granted(world)
    return (
        lambda: services.grant_revoke(actor=world["steward"], grant=grant, reason="Misuse."),
        "access.revoked",
        1,
    )


def download(world):
    grant = _granted(world, download_quota=2)
    return lambda: services.grant_download(actor=world["requester"], grant=grant), "data.downloaded", 1


def expire_requests(world):
    request_access(world["requester"], published(world["steward"], tier="restricted"))
    later = timezone.now() + timedelta(days=31)
    return lambda: services.access_request_expire_due(now=later), "access.expired", 1


def expire_grants(world):
    _granted(world)
    later = timezone.now() + timedelta(days=31)
    return lambda: services.grant_expire_due(now=later), "access.expired", 1


SCENARIOS: list[Callable[[dict[str, Any]], tuple[Callable[[], Any], str, int]]] = [
    register_dataset,
    change_policy,
    upload_version,
    withdraw_version,
    withdraw_dataset_closing_requests,
    submit_open_request,
    submit_restricted_request,
    approve_restricted,
    approve_confidential_as_steward,
    reject,
    withdraw_request,
    revoke,
    download,
    expire_requests,
    expire_grants,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_a_failure_after_the_last_entry_leaves_nothing(
    scenario, world, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the setup's notices go out now
        call, kind, occurrence = scenario(world)
    transfers = CreditTransfer.objects.count()
    injection = nothing_left(call, kind, occurrence=occurrence, capture=django_capture_on_commit_callbacks)
    assert CreditTransfer.objects.count() == transfers
    assert injection.appended[-1] == kind


# Those that notify someone or store a file: a failed commit must take those back too.
WITH_SIDE_EFFECTS = [
    upload_version,
    withdraw_dataset_closing_requests,
    submit_open_request,
    submit_restricted_request,
    approve_restricted,
    reject,
    revoke,
    expire_requests,
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scenario", WITH_SIDE_EFFECTS, ids=lambda scenario: scenario.__name__)
def test_a_failed_commit_leaves_nothing(scenario, world, mailoutbox) -> None:
    call, _, _ = scenario(world)
    nothing_left_at_commit(call)


def test_the_injection_sees_what_a_failed_download_would_have_posted(world) -> None:
    """The failure comes after the entry's transfers were written, not before: the world compared is not
    trivially unchanged."""
    grant = _granted(world, download_quota=2)
    before = CreditTransfer.objects.count()
    services.grant_download(actor=world["requester"], grant=grant)[3].close()
    assert CreditTransfer.objects.count() > before


def test_a_failed_upload_keeps_an_earlier_version_of_the_same_bytes_and_name(
    world, django_capture_on_commit_callbacks
) -> None:
    """Same content and name as the version before it (the credit rules register a checksum once; the
    same bytes come back only after their version was withdrawn, else duplicate_version): the failed
    upload deletes only the file it stored itself."""
    dataset = published(world["steward"], tier="open", content=b"same,bytes\n1,2\n")
    kept = dataset.versions.get()
    services.dataset_version_withdraw(actor=world["steward"], version=kept, reason="Offered again below.")

    def again() -> Any:
        return services.dataset_version_add(
            actor=world["steward"],
            dataset=dataset,
            file=ContentFile(b"same,bytes\n1,2\n", name="readings.csv"),
            filename="readings.csv",
            media_type="text/csv",
        )

    nothing_left(again, "dataset.version_added", capture=django_capture_on_commit_callbacks)
    with kept.file.open("rb") as handle:
        assert handle.read() == b"same,bytes\n1,2\n"
