"""A requester sees the policy hash on its request and grant and every term of the policy but the allow and
deny lists; member ids are few. The hash therefore mixes in a random salt, new with each revision, that only
the owner's members and auditors see (in `dataset.policy_set`): hashing guesses of the lists, even the right
ones, does not reproduce it. A policy last set before salts were kept hashes as it always did."""

from __future__ import annotations

import hashlib
import json
import re
from itertools import combinations

import pytest

from exchange import policies
from exchange.models import AccessPolicy
from ledger.canonical import canonical_bytes
from ledger.models import LedgerEntry
from tests.exchange.support import as_user, published, request_access, set_policy

pytestmark = pytest.mark.django_db


def _without_salt(document: dict) -> str:
    return hashlib.sha256(canonical_bytes({k: v for k, v in document.items() if k != "salt"})).hexdigest()


def test_guessing_the_lists_does_not_reproduce_the_hash_a_requester_sees(
    client_for, data_steward, other_analyst, other_member, member
) -> None:
    candidates = [other_member.pk, member.pk, 987_001, 987_002]
    dataset = published(data_steward, tier="restricted", allow_list=[other_member.pk], deny_list=[])
    request = request_access(other_analyst, dataset)
    policy = AccessPolicy.objects.get(dataset=dataset)
    document = policies.policy_document(policy, dataset_id=dataset.pk)
    assert request.policy_hash == policies.policy_hash(policy, dataset_id=dataset.pk)

    # Every term the requester sees, and every guess of the lists from a few ids (the true lists among them)
    lists = [list(ids) for size in range(3) for ids in combinations(candidates, size)]
    guesses = {
        _without_salt({**document, "allow_list": allow, "deny_list": deny})
        for allow in lists
        for deny in lists
    }
    assert _without_salt(document) in guesses  # the true lists were guessed ...
    assert request.policy_hash not in guesses  # ... and still do not give the hash

    # Nothing the requester may read holds the salt: the dataset and its policy, the request and its
    # ledger entries, in the API and the portal.
    api = client_for(other_analyst)
    portal = as_user(other_analyst)
    pages = [
        api.get(f"/api/v1/datasets/{dataset.pk}/"),
        api.get(f"/api/v1/access-requests/{request.pk}/"),
        api.get(f"/api/v1/access-requests/{request.pk}/receipts/"),
        api.get("/api/v1/ledger/entries/"),
        portal.get(f"/catalog/{dataset.pk}/"),
        portal.get(f"/requests/{request.pk}/"),
    ]
    assert [page.status_code for page in pages] == [200] * len(pages)
    assert all(policy.salt not in page.content.decode() for page in pages)
    assert any(request.policy_hash in page.content.decode() for page in pages)


def test_each_revision_has_a_new_salt_recorded_for_the_owner(data_steward) -> None:
    dataset = published(data_steward, tier="restricted")
    first = AccessPolicy.objects.get(dataset=dataset).salt
    set_policy(data_steward, dataset, tier="restricted", download_quota=4)  # a change: a new revision
    second = AccessPolicy.objects.get(dataset=dataset).salt
    assert re.fullmatch(r"[0-9a-f]{32}", first) and re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second
    entries = LedgerEntry.objects.filter(kind="dataset.policy_set", subject_id=str(dataset.pk)).order_by("id")
    payloads = [json.loads(bytes(entry.canonical))["payload"] for entry in entries]
    assert [payload["salt"] for payload in payloads] == [first, second]
    for payload in payloads:  # the owner (and an auditor) recomputes the hash from the entry, as documented
        document = {k: v for k, v in payload.items() if k not in ("grade", "policy_hash")}
        assert hashlib.sha256(canonical_bytes(document)).hexdigest() == payload["policy_hash"]


def test_a_policy_set_before_salts_hashes_as_it_always_did(data_steward, other_member) -> None:
    dataset = published(data_steward, tier="restricted", deny_list=[other_member.pk])
    AccessPolicy.objects.filter(dataset=dataset).update(salt="")
    policy = AccessPolicy.objects.get(dataset=dataset)
    document = policies.policy_document(policy, dataset_id=dataset.pk)
    assert "salt" not in document
    assert policies.policy_hash(policy, dataset_id=dataset.pk) == _without_salt(document)
