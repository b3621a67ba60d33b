"""Every decision receipt binds the same facts (issue 4): the grant id where one exists, the hash of the
policy in force, the latest version's checksum, the grade, the purpose, the approvers and the decider."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from exchange import policies, services
from exchange.models import AccessRequest, Grant
from ledger.models import LedgerEntry
from tests.exchange.support import CONTENT, post_request, published

pytestmark = pytest.mark.django_db

BINDING = {"policy_hash", "version_sha256", "grade", "purpose", "approvers", "decided_by"}
SHA = hashlib.sha256(CONTENT).hexdigest()


def _request(client, dataset) -> int:
    response = post_request(client, dataset, purpose="quality_benchmarking")
    assert response.status_code == 201, response.content
    return response.json()["request"]["id"]


def _payload(kind: str) -> dict:
    return json.loads(bytes(LedgerEntry.objects.get(kind=kind).canonical))["payload"]


def _hash(dataset) -> str:
    dataset.refresh_from_db()
    return policies.policy_hash(dataset.policy, dataset_id=dataset.pk)


def _assert_bound(
    payload: dict, *, dataset, approvers: list[int], decided_by: int, grant: int | None
) -> None:
    assert payload.keys() >= BINDING
    assert payload["policy_hash"] == _hash(dataset)
    assert payload["version_sha256"] == SHA
    assert (payload["grade"], payload["purpose"]) == (dataset.grade, "quality_benchmarking")
    assert payload["approvers"] == approvers
    assert payload["decided_by"] == decided_by
    if grant is None:
        assert "grant" not in payload
    else:
        assert payload["grant"] == grant


def test_granted_receipt_binds_grant_policy_version_grade_purpose_and_approvers(
    client_for, data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted")
    request_id = _request(client_for(other_analyst), dataset)
    client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/")
    grant = Grant.objects.get(request_id=request_id)
    _assert_bound(
        _payload("access.granted"),
        dataset=dataset,
        approvers=[data_steward.pk],
        decided_by=data_steward.pk,
        grant=grant.pk,
    )


def test_rejected_receipt_is_bound(client_for, data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="restricted")
    request_id = _request(client_for(other_analyst), dataset)
    response = client_for(data_steward).post(
        f"/api/v1/access-requests/{request_id}/reject/", {"reason": "Competitor."}, format="json"
    )
    assert response.status_code == 200, response.content
    _assert_bound(
        _payload("access.rejected"), dataset=dataset, approvers=[], decided_by=data_steward.pk, grant=None
    )


def test_rejected_by_the_officer_binds_the_steward_approval(
    client_for, data_steward, other_analyst, security_officer
) -> None:
    dataset = published(data_steward, tier="confidential")
    request_id = _request(client_for(other_analyst), dataset)
    client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/")
    response = client_for(security_officer).post(
        f"/api/v1/access-requests/{request_id}/reject/", {"reason": "Too sensitive."}, format="json"
    )
    assert response.status_code == 200, response.content
    _assert_bound(
        _payload("access.rejected"),
        dataset=dataset,
        approvers=[data_steward.pk],
        decided_by=security_officer.pk,
        grant=None,
    )


def test_steward_approval_receipt_is_bound(client_for, data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="confidential")
    request_id = _request(client_for(other_analyst), dataset)
    response = client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/")
    assert response.json()["request"]["state"] == "steward_approved"
    _assert_bound(
        _payload("access.approved"),
        dataset=dataset,
        approvers=[data_steward.pk],
        decided_by=data_steward.pk,
        grant=None,
    )


def test_withdrawal_receipt_is_bound(client_for, data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="confidential")
    request_id = _request(client_for(other_analyst), dataset)
    client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/")
    response = client_for(other_analyst).post(f"/api/v1/access-requests/{request_id}/withdraw/")
    assert response.json()["request"]["state"] == "withdrawn"
    _assert_bound(
        _payload("access.withdrawn"),
        dataset=dataset,
        approvers=[data_steward.pk],
        decided_by=other_analyst.pk,
        grant=None,
    )


def test_revocation_receipt_is_bound(client_for, data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="restricted")
    request_id = _request(client_for(other_analyst), dataset)
    client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/")
    grant = Grant.objects.get(request_id=request_id)
    response = client_for(data_steward).post(
        f"/api/v1/grants/{grant.pk}/revoke/", {"reason": "Contract ended."}, format="json"
    )
    assert response.status_code == 200, response.content
    payload = _payload("access.revoked")
    _assert_bound(
        payload, dataset=dataset, approvers=[data_steward.pk], decided_by=data_steward.pk, grant=grant.pk
    )
    assert payload["policy_hash"] == grant.policy_hash


def test_receipt_of_a_dataset_without_versions_binds_an_empty_checksum(
    client_for, data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted")
    dataset.versions.update(withdrawn_at=dataset.created_at)
    request_id = _request(client_for(other_analyst), dataset)
    client_for(data_steward).post(
        f"/api/v1/access-requests/{request_id}/reject/", {"reason": "Nothing to share."}, format="json"
    )
    assert _payload("access.rejected")["version_sha256"] == ""
    assert AccessRequest.objects.get(pk=request_id).state == "rejected"


def test_expiry_of_an_undecided_request_is_bound_and_decided_by_the_system(
    client_for, data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="confidential")
    request_id = _request(client_for(other_analyst), dataset)
    client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/")
    AccessRequest.objects.filter(pk=request_id).update(created_at=timezone.now() - timedelta(days=400))
    assert services.access_request_expire_due() == 1
    payload = _payload("access.expired")
    _assert_bound(payload, dataset=dataset, approvers=[data_steward.pk], decided_by=0, grant=None)
    assert (payload["request"], payload["stage"]) == (request_id, "steward_approved")


def test_expiry_of_a_grant_is_bound_to_the_grant_and_decided_by_the_system(
    client_for, data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted")
    request_id = _request(client_for(other_analyst), dataset)
    client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/")
    grant = Grant.objects.get(request_id=request_id)
    assert services.grant_expire_due(now=grant.valid_until + timedelta(seconds=1)) == 1
    payload = _payload("access.expired")
    _assert_bound(payload, dataset=dataset, approvers=[data_steward.pk], decided_by=0, grant=grant.pk)
    assert payload["policy_hash"] == grant.policy_hash
    assert payload["downloads_remaining"] == grant.download_quota
    assert timezone.now() < grant.valid_until  # expired by the beat service's clock, not the test's


def test_decision_receipts_carry_what_the_ledger_serves_base64_canonical_bytes_and_seq(
    client_for, data_steward, other_analyst
) -> None:
    """A receipt handed out with a decision has the ledger's shape (docs/ledger-format.md section 9): the
    recipe `base64 -d <<< "$canonical" | (printf '\\0'; cat) | sha256sum` gives its leaf hash, and `seq`
    is null until the entry is sequenced, then the entry's number in /ledger/entries/."""
    from ledger import merkle
    from ledger.services import ledger_sequence

    dataset = published(data_steward, tier="restricted")
    request_id = _request(client_for(other_analyst), dataset)
    decided = client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/").json()
    (receipt,) = decided["receipts"]
    assert receipt["seq"] is None  # the test's transaction never commits: nothing sequenced it yet
    entry = LedgerEntry.objects.get(kind="access.granted")
    assert base64.b64decode(receipt["canonical"], validate=True) == bytes(entry.canonical)
    assert merkle.hash_leaf(base64.b64decode(receipt["canonical"])).hex() == receipt["receipt"]["leaf_hash"]
    assert set(receipt["receipt"]) == {"origin", "leaf_hash", "accepted_at", "key_id", "signature"}

    ledger_sequence()
    listed = client_for(other_analyst).get(f"/api/v1/access-requests/{request_id}/receipts/").json()
    granted = next(r for r in listed if r["kind"] == "access.granted")
    assert granted["seq"] == entry.leaf.seq
    from_ledger = client_for(other_analyst).get(f"/api/v1/ledger/entries/{granted['seq']}/").json()
    assert (from_ledger["canonical"], from_ledger["receipt"]) == (granted["canonical"], granted["receipt"])


def test_the_receipts_of_a_request_cost_the_same_queries_however_many(
    client_for, data_steward, other_analyst, django_assert_max_num_queries
) -> None:
    from ledger.services import ledger_sequence

    dataset = published(data_steward, tier="restricted")
    request_id = _request(client_for(other_analyst), dataset)
    ledger_sequence()
    client = client_for(other_analyst)
    with django_assert_max_num_queries(50) as one:
        client.get(f"/api/v1/access-requests/{request_id}/receipts/")
    client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/")
    ledger_sequence()
    with django_assert_max_num_queries(50) as two:
        assert len(client.get(f"/api/v1/access-requests/{request_id}/receipts/").json()) == 2
    assert len(two.captured_queries) == len(one.captured_queries)


def test_the_receipt_object_is_typed_in_the_schema(api_client) -> None:
    import yaml

    schema = yaml.safe_load(api_client.get("/api/schema/").content)
    components = schema["components"]["schemas"]
    entry_receipt = components["EntryReceipt"]["properties"]
    assert entry_receipt["seq"]["nullable"] is True
    receipt = components[entry_receipt["receipt"]["allOf"][0]["$ref"].rsplit("/", 1)[1]]
    assert set(receipt["properties"]) == {"origin", "leaf_hash", "accepted_at", "key_id", "signature"}
    assert set(receipt["required"]) == set(receipt["properties"])
    ledger_entry = components["LedgerEntry"]["properties"]
    assert ledger_entry["receipt"] == entry_receipt["receipt"]
