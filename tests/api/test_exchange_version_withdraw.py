"""Withdrawing one version of a dataset through the API: a ledger entry, never a delete; grants then
download the latest version not withdrawn, or are refused with a 409 when none is left."""

from __future__ import annotations

import hashlib
import json

import pytest

from exchange.models import DatasetVersion, Grant
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import CONTENT, add_version, post_request, published

pytestmark = pytest.mark.django_db

SECOND = b"sensor,value\nline,2\n"


def _withdraw(client, dataset_id: int, number: int, reason: str = "Calibration error in the sensors."):
    return client.post(
        f"/api/v1/datasets/{dataset_id}/versions/{number}/withdraw/", {"reason": reason}, format="json"
    )


def _grant(client_for, steward, analyst, dataset) -> Grant:
    response = post_request(client_for(analyst), dataset)
    assert response.status_code == 201, response.content
    return Grant.objects.get(request_id=response.json()["request"]["id"])


def _download(client, grant_id: int, version: int | None = None):
    query = f"?version={version}" if version is not None else ""
    return client.post(f"/api/v1/grants/{grant_id}/download/{query}")


def _entries() -> int:
    return LedgerEntry.objects.count()


def test_steward_withdraws_a_version_recorded_and_kept(client_for, data_steward) -> None:
    dataset = published(data_steward, tier="open")
    version = dataset.versions.get()
    response = _withdraw(client_for(data_steward), dataset.pk, 1)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["number"] == 1 and body["withdrawn_at"] and body["withdrawn_reason"].startswith("Calibration")
    version.refresh_from_db()
    assert version.withdrawn_by == data_steward
    assert version.file.read() == CONTENT  # the file stays
    entry = LedgerEntry.objects.order_by("-id").first()
    assert entry.kind == "dataset.version_withdrawn"
    payload = json.loads(bytes(entry.canonical))["payload"]
    assert payload["version"] == 1 and payload["sha256"] == hashlib.sha256(CONTENT).hexdigest()
    listed = client_for(data_steward).get(f"/api/v1/datasets/{dataset.pk}/versions/").json()
    assert [(v["number"], bool(v["withdrawn_at"])) for v in listed] == [(1, True)]


def test_officer_may_withdraw_a_version(client_for, data_steward, officer) -> None:
    dataset = published(data_steward, tier="open")
    assert _withdraw(client_for(officer), dataset.pk, 1).status_code == 200
    assert DatasetVersion.objects.get(dataset=dataset).withdrawn_by == officer


def test_refusals_write_nothing(client_for, data_steward, analyst, other_analyst, security_officer) -> None:
    dataset = published(data_steward, tier="open")
    before = _entries()
    # Visible, but not theirs to withdraw: 403.
    assert_problem(_withdraw(client_for(analyst), dataset.pk, 1), 403, "permission_denied")
    assert_problem(_withdraw(client_for(other_analyst), dataset.pk, 1), 403, "permission_denied")
    assert_problem(_withdraw(client_for(security_officer), dataset.pk, 1), 403, "permission_denied")
    assert_problem(_withdraw(client_for(data_steward), dataset.pk, 1, reason=" "), 400, "reason_required")
    assert_problem(_withdraw(client_for(data_steward), dataset.pk, 9), 404, "no_version")
    assert_problem(_withdraw(client_for(data_steward), 999999, 1), 404, "not_found")
    assert _entries() == before
    assert DatasetVersion.objects.get(dataset=dataset).withdrawn_at is None
    assert _withdraw(client_for(data_steward), dataset.pk, 1).status_code == 200
    after = _entries()
    body = assert_problem(_withdraw(client_for(data_steward), dataset.pk, 1), 409, "illegal_transition")
    assert body["current_state"] == "withdrawn"
    assert _entries() == after


def test_anonymous_is_refused(api_client, data_steward) -> None:
    dataset = published(data_steward, tier="open")
    response = _withdraw(api_client, dataset.pk, 1)
    assert response.status_code in (401, 403)
    assert DatasetVersion.objects.get(dataset=dataset).withdrawn_at is None


def test_grants_fall_back_to_the_latest_version_not_withdrawn(
    client_for, data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="open", download_quota=5)
    add_version(data_steward, dataset, SECOND)
    grant = _grant(client_for, data_steward, other_analyst, dataset)
    consumer = client_for(other_analyst)
    assert _withdraw(client_for(data_steward), dataset.pk, 2).status_code == 200
    response = _download(consumer, grant.pk)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CONTENT  # v1, not the withdrawn v2
    entries, remaining = _entries(), Grant.objects.get(pk=grant.pk).downloads_remaining
    body = assert_problem(_download(consumer, grant.pk, version=2), 409, "version_withdrawn")
    assert body["current_state"] == "withdrawn"
    assert _entries() == entries
    assert Grant.objects.get(pk=grant.pk).downloads_remaining == remaining


def test_no_version_left_is_a_409_and_takes_nothing(client_for, data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="open", download_quota=5)
    grant = _grant(client_for, data_steward, other_analyst, dataset)
    assert _withdraw(client_for(data_steward), dataset.pk, 1).status_code == 200
    entries = _entries()
    assert_problem(_download(client_for(other_analyst), grant.pk), 409, "no_version_available")
    assert _entries() == entries
    assert Grant.objects.get(pk=grant.pk).downloads_remaining == 5
