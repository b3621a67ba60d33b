"""A member checks its statement's balance proof against the signed root: it may read the `epoch.settled`
entry (and the rules and the epoch's opening), which name no member, but still no entry of another member."""

from __future__ import annotations

import base64
import json

import pytest

from ledger import merkle, signing
from ledger.credit import sumtree
from ledger.models import LedgerEntry
from ledger.services import checkpoint_issue
from tests.ledger.credit.statement_support import settled_epoch

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def epoch(data_steward, other_analyst, member, other_member):
    settled = settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])
    checkpoint_issue()
    return settled


def test_a_member_checks_its_balance_proof_against_the_signed_settlement(epoch, client_for, data_steward):
    client = client_for(data_steward)
    proof = client.get(f"{API}/credit/statements/{epoch}/").json()["proof"]
    entry = client.get(f"{API}/ledger/entries/{proof['entry_seq']}/")
    assert entry.status_code == 200
    canonical = base64.b64decode(entry.json()["canonical"])
    document = json.loads(canonical)
    assert document["kind"] == "epoch.settled" and document["members"] == []
    # the leaf is in the tree of a checkpoint signed with a published key
    checkpoint = client.get(f"{API}/ledger/checkpoints/latest/").json()
    (key,) = client.get(f"{API}/ledger/keys/").json()
    signed = signing.verify_checkpoint(
        checkpoint["note"], checkpoint["origin"], base64.b64decode(key["public_key"])
    )
    inclusion = client.get(
        f"{API}/ledger/proofs/inclusion/", {"seq": proof["entry_seq"], "tree_size": signed.size}
    ).json()
    assert merkle.verify_inclusion(
        merkle.hash_leaf(canonical),
        proof["entry_seq"],
        signed.size,
        [bytes.fromhex(h) for h in inclusion["proof"]],
        signed.root,
    )
    # and the member's balances are in the sum tree whose root that entry states
    root, total = bytes.fromhex(document["payload"]["balance_root"]), document["payload"]["balance_total"]
    assert proof["accounts"]
    for account in proof["accounts"]:
        path = [(bytes.fromhex(step["hash"]), step["sum"], step["side"]) for step in account["path"]]
        assert sumtree.verify_inclusion(account["account"], account["balance"], path, root, total)


def test_members_read_the_rules_and_epoch_entries_but_no_other_members_entries(
    epoch, client_for, data_steward, other_member
):
    rows = client_for(data_steward).get(f"{API}/ledger/entries/", {"page_size": 100}).json()["results"]
    kinds = [row["kind"] for row in rows]
    for kind in ("credit.rules_changed", "epoch.opened", "epoch.settled"):
        assert kinds.count(kind) == 1
    others = LedgerEntry.objects.filter(kind="member.admitted", subject_id=str(other_member.pk)).get()
    assert others.leaf.seq not in [row["seq"] for row in rows]
    assert client_for(data_steward).get(f"{API}/ledger/entries/{others.leaf.seq}/").status_code == 404
    # the settlement states totals only: no member's result
    settled = next(row for row in rows if row["kind"] == "epoch.settled")
    assert set(settled["document"]["payload"]) == {
        "epoch",
        "minted",
        "total_damped",
        "rate_bps",
        "held",
        "flags",
        "balance_root",
        "balance_total",
        "credit",
    }


def test_a_suspended_member_reads_no_settlement(epoch, client_for, data_steward, member):
    member.status = "suspended"
    member.save(update_fields=["status"])
    assert client_for(data_steward).get(f"{API}/ledger/entries/").json()["results"] == []
