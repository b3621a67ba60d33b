"""The ledger's REST API as members, auditors and partners use it: entries, checkpoints, proofs, keys."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from celery.signals import beat_init
from django.contrib.auth.models import Group
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from consortium.models import ConsortiumRole, Member, MemberRole, MemberStatus, User
from ledger import keys, merkle, signing, tree
from ledger.models import LedgerEntry
from ledger.services import checkpoint_issue, ledger_append, ledger_sequence

pytestmark = pytest.mark.django_db


def make_member(code: str, status: str = MemberStatus.ACTIVE) -> Member:
    return Member.objects.create(
        legal_name=f"Firm {code}",
        credit_code=code,
        size_class="small",
        sector="C",
        region="Jiangsu",
        contact_name="Contact",
        contact_email="c@example.com",
        status=status,
        status_changed_at=timezone.now(),
        group=Group.objects.create(name=f"member:{code}"),
    )


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def world() -> dict:
    own, other = make_member("914403001922038216"), make_member("9144030071526726XG")
    users = {
        "own": User.objects.create_user("own-analyst", member=own, member_role=MemberRole.ANALYST),
        "other": User.objects.create_user("other-analyst", member=other, member_role=MemberRole.ANALYST),
        "auditor": User.objects.create_user("auditor", consortium_role=ConsortiumRole.AUDITOR),
        "nobody": User.objects.create_user("nobody"),
    }
    for i in range(5):
        ledger_append(
            kind="test.own",
            actor=users["own"],
            subject_type="thing",
            subject_id=i,
            members=[own.id],
            payload={"i": i},
        )
    for i in range(3):
        ledger_append(
            kind="test.other",
            actor=users["other"],
            subject_type="thing",
            subject_id=i,
            members=[other.id],
            payload={"i": i},
        )
    ledger_sequence()
    checkpoint_issue()
    return {"own_member": own, "other_member": other, **users}


def test_members_see_only_entries_that_concern_them_and_auditors_see_all(world) -> None:
    own = client_for(world["own"]).get("/api/v1/ledger/entries/").json()
    assert {row["kind"] for row in own["results"]} == {"test.own"} and len(own["results"]) == 5
    audit = client_for(world["auditor"]).get("/api/v1/ledger/entries/?page_size=100").json()
    assert [row["seq"] for row in audit["results"]] == list(range(8))
    assert client_for(world["own"]).get("/api/v1/ledger/entries/6/").status_code == 404  # other's entry
    assert client_for(world["nobody"]).get("/api/v1/ledger/entries/").json()["results"] == []


def test_entry_filters(world) -> None:
    client = client_for(world["auditor"])
    rows = client.get("/api/v1/ledger/entries/", {"member": world["other_member"].id}).json()["results"]
    assert {row["kind"] for row in rows} == {"test.other"}
    rows = client.get("/api/v1/ledger/entries/", {"kind": "test.own", "subject_id": "2"}).json()["results"]
    assert [row["document"]["payload"] for row in rows] == [{"i": 2}]
    for not_an_id in (f"{world['other_member'].id}.5", "0", "-1", str(2**63)):  # 1.5 was read as member 1
        refused = client.get("/api/v1/ledger/entries/", {"member": not_an_id})
        assert refused.status_code == 400 and "member" in refused.json()["errors"], not_an_id


def test_entry_carries_a_receipt_that_verifies_with_the_published_key(world) -> None:
    client = client_for(world["own"])
    entry = client.get("/api/v1/ledger/entries/0/").json()
    receipt = entry["receipt"]
    assert receipt["leaf_hash"] == merkle.hash_leaf(base64.b64decode(entry["canonical"])).hex()
    published = {key["key_id"]: key for key in client.get("/api/v1/ledger/keys/").json()}
    public = base64.b64decode(published[receipt["key_id"]]["public_key"])
    assert signing.verify_receipt(
        public,
        receipt["origin"],
        bytes.fromhex(receipt["leaf_hash"]),
        receipt["accepted_at"],
        receipt["key_id"],
        base64.b64decode(receipt["signature"]),
    )


def test_inclusion_proofs_by_seq_and_by_leaf_hash_verify_against_the_checkpoint(world) -> None:
    client = client_for(world["other"])
    checkpoint = client.get("/api/v1/ledger/checkpoints/latest/").json()
    assert checkpoint["tree_size"] == 8
    published = client.get("/api/v1/ledger/keys/").json()[0]
    parsed = signing.verify_checkpoint(
        checkpoint["note"], checkpoint["origin"], base64.b64decode(published["public_key"])
    )
    assert parsed.root.hex() == checkpoint["root_hash"]
    by_seq = client.get("/api/v1/ledger/proofs/inclusion/", {"seq": 3, "tree_size": 8}).json()
    by_hash = client.get(
        "/api/v1/ledger/proofs/inclusion/", {"leaf_hash": by_seq["leaf_hash"], "tree_size": 8}
    ).json()
    assert by_seq == by_hash
    assert merkle.verify_inclusion(
        bytes.fromhex(by_seq["leaf_hash"]), 3, 8, [bytes.fromhex(h) for h in by_seq["proof"]], parsed.root
    )


def test_a_member_gets_the_proof_of_an_entry_it_may_not_read_but_not_the_entry(world) -> None:
    """By design (docs/ledger-format.md, "Proofs of entries the caller may not read"): the proof carries the
    leaf hash, which reveals nothing of the entry, and refusing it would hide nothing the audit paths of
    the member's own entries do not show anyway."""
    client = client_for(world["other"])  # its member's entries are seq 5 to 7; seq 4 is another's
    assert client.get("/api/v1/ledger/entries/4/").status_code == 404
    root = bytes.fromhex(client.get("/api/v1/ledger/checkpoints/latest/").json()["root_hash"])
    unreadable = client.get("/api/v1/ledger/proofs/inclusion/", {"seq": 4, "tree_size": 8}).json()
    assert set(unreadable) == {"seq", "tree_size", "leaf_hash", "root_hash", "proof"}  # no entry in it
    assert unreadable["leaf_hash"] == LedgerEntry.objects.get(leaf__seq=4).leaf_hash.hex()
    path = [bytes.fromhex(node) for node in unreadable["proof"]]
    assert merkle.verify_inclusion(bytes.fromhex(unreadable["leaf_hash"]), 4, 8, path, root)
    by_hash = {"leaf_hash": unreadable["leaf_hash"], "tree_size": 8}
    assert client.get("/api/v1/ledger/proofs/inclusion/", by_hash).json() == unreadable
    own = client.get("/api/v1/ledger/proofs/inclusion/", {"seq": 5, "tree_size": 8}).json()
    assert own["proof"][0] == unreadable["leaf_hash"]  # the neighbour's hash, in the member's own proof


def test_consistency_proof_between_two_checkpoints(world) -> None:
    ledger_append(kind="test.more", actor=None, subject_type="x", subject_id=1, payload={})
    ledger_sequence()
    checkpoint_issue()
    client = client_for(world["auditor"])
    body = client.get("/api/v1/ledger/proofs/consistency/", {"first": 8, "second": 9}).json()
    assert merkle.verify_consistency(
        8,
        9,
        bytes.fromhex(body["first_root_hash"]),
        bytes.fromhex(body["second_root_hash"]),
        [bytes.fromhex(h) for h in body["proof"]],
    )
    assert client.get("/api/v1/ledger/checkpoints/8/").json()["root_hash"] == body["first_root_hash"]
    assert [c["tree_size"] for c in client.get("/api/v1/ledger/checkpoints/").json()["results"]] == [8, 9]


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/v1/ledger/proofs/inclusion/", {"seq": 0, "tree_size": 99}, 400, "tree_size_out_of_range"),
        ("/api/v1/ledger/proofs/inclusion/", {"seq": 8, "tree_size": 8}, 400, "seq_out_of_range"),
        ("/api/v1/ledger/proofs/inclusion/", {"leaf_hash": "zz", "tree_size": 8}, 400, "validation_error"),
        # 64 hex digits in pairs with spaces between: bytes.fromhex reads them, malformed all the same
        (
            "/api/v1/ledger/proofs/inclusion/",
            {"leaf_hash": " ".join(["ab"] * 32), "tree_size": 8},
            400,
            "validation_error",
        ),
        (
            "/api/v1/ledger/proofs/inclusion/",
            {"leaf_hash": "ab" * 32, "tree_size": 8},
            404,
            "unknown_leaf_hash",
        ),
        ("/api/v1/ledger/proofs/inclusion/", {"tree_size": 8}, 400, "validation_error"),
        ("/api/v1/ledger/proofs/consistency/", {"first": 5, "second": 3}, 400, "sizes_reversed"),
        ("/api/v1/ledger/proofs/consistency/", {"first": 0, "second": 3}, 400, "validation_error"),
        ("/api/v1/ledger/proofs/consistency/", {"first": 2, "second": 80}, 400, "tree_size_out_of_range"),
        ("/api/v1/ledger/proofs/consistency/", {"first": "x", "second": 3}, 400, "validation_error"),
        ("/api/v1/ledger/checkpoints/77/", {}, 404, "no_checkpoint"),
    ],
)
def test_bad_proof_requests_get_problem_bodies(world, path, params, status, code) -> None:
    response = client_for(world["own"]).get(path, params)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_proofs_and_checkpoints_are_for_members_only(world) -> None:
    assert client_for(world["nobody"]).get("/api/v1/ledger/checkpoints/latest/").status_code == 404
    assert APIClient().get("/api/v1/ledger/checkpoints/latest/").status_code in (401, 403)
    suspended = make_member("91350100M000100Y43", status=MemberStatus.SUSPENDED)
    user = User.objects.create_user("suspended", member=suspended, member_role=MemberRole.ANALYST)
    assert client_for(user).get("/api/v1/ledger/proofs/consistency/?first=1&second=2").status_code == 404


def test_a_new_ledger_has_its_first_checkpoint_when_beat_starts() -> None:
    member = make_member("914403001922038216")
    user = User.objects.create_user("analyst", member=member, member_role=MemberRole.ANALYST)
    ledger_append(
        kind="test.own", actor=user, subject_type="thing", subject_id=1, members=[member.id], payload={}
    )
    client = client_for(user)
    before = client.get("/api/v1/ledger/checkpoints/latest/")
    assert before.status_code == 404 and before["Content-Type"] == "application/problem+json"
    assert before.json()["code"] == "no_checkpoint_yet" and "within 60 seconds" in before.json()["detail"]

    beat_init.send(sender=None)  # what `celery beat` sends as it starts; tasks run eagerly here

    latest = client.get("/api/v1/ledger/checkpoints/latest/")
    assert latest.status_code == 200 and latest.json()["tree_size"] == tree.tree_size() >= 1


def test_status_reports_the_integration_delay_bound(world) -> None:
    body = client_for(world["own"]).get("/api/v1/ledger/status/").json()
    assert body["tree_size"] == 8 and body["pending_entries"] == 0
    assert body["max_integration_delay_seconds"] > 0 and body["latest_checkpoint_size"] == 8
    assert body["checkpoint_schedule"] == "periodic" and body["latest_checkpoint_issued_at"]


def test_status_says_how_checkpoints_are_signed_where_no_scheduler_runs(world, settings) -> None:
    settings.LEDGER = {**settings.LEDGER, "CHECKPOINT_AFTER_COMMIT": True}
    body = client_for(world["own"]).get("/api/v1/ledger/status/").json()
    assert body["checkpoint_schedule"] == "after_commit" and body["checkpoint_interval_seconds"] == 60
    # with after-commit requests off, nothing but beat signs them, whatever CHECKPOINT_AFTER_COMMIT says
    settings.LEDGER = {**settings.LEDGER, "SEQUENCE_AFTER_COMMIT": "off"}
    body = client_for(world["own"]).get("/api/v1/ledger/status/").json()
    assert body["checkpoint_schedule"] == "periodic"


def test_entry_list_query_count_does_not_grow_with_page_size(world, django_assert_max_num_queries) -> None:
    client = client_for(world["auditor"])
    for size in (2, 8):
        with django_assert_max_num_queries(4):
            assert len(client.get("/api/v1/ledger/entries/", {"page_size": size}).json()["results"]) == size


def test_the_actor_receives_the_receipts_of_its_request_in_a_header(world, api_client) -> None:
    """Applying for membership appends member.applied: the applicant gets its signed receipt back."""
    response = api_client.post(
        "/api/v1/members/",
        {
            "legal_name": "Receipt Test Co",
            "credit_code": "91330100716105852F",
            "size_class": "micro",
            "sector": "C",
            "region": "Zhejiang",
            "contact_name": "A",
            "contact_email": "a@example.com",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    receipts = json.loads(response["Ledger-Receipts"])
    assert len(receipts) == 1
    entry = LedgerEntry.objects.get(leaf_hash=bytes.fromhex(receipts[0]["leaf_hash"]))
    assert entry.kind == "member.applied"
    signer = keys.active_signer()
    assert signing.verify_receipt(
        signer.public_key,
        receipts[0]["origin"],
        bytes.fromhex(receipts[0]["leaf_hash"]),
        receipts[0]["accepted_at"],
        receipts[0]["key_id"],
        base64.b64decode(receipts[0]["signature"]),
    )
    refused = api_client.post("/api/v1/members/", {"legal_name": "x"}, format="json")
    assert refused.status_code == 400 and "Ledger-Receipts" not in refused


def test_entry_time_range_filter(world) -> None:
    client = client_for(world["auditor"])
    rows = client.get("/api/v1/ledger/entries/", {"page_size": 100}).json()["results"]
    middle = rows[4]["accepted_at"]
    later = client.get("/api/v1/ledger/entries/", {"since": middle, "page_size": 100}).json()["results"]
    earlier = client.get("/api/v1/ledger/entries/", {"until": middle, "page_size": 100}).json()["results"]
    assert [row["seq"] for row in earlier] == [0, 1, 2, 3]
    assert [row["seq"] for row in later] == [4, 5, 6, 7]


def test_published_keys_carry_validity_windows_across_a_rotation(world) -> None:
    from ledger.services import signing_key_rotate

    signing_key_rotate()
    published = client_for(world["own"]).get("/api/v1/ledger/keys/").json()
    assert len(published) == 2
    ends, starts = (parse_datetime(published[0]["valid_until"]), parse_datetime(published[1]["valid_from"]))
    assert ends - starts == keys.ROTATION_GRACE  # the old key's receipts are accepted a moment longer
    assert published[1]["valid_until"] is None
    assert published[0]["verifier_key"].startswith(
        "consortium.example/exchange/ledger+" + published[0]["key_id"]
    )


def test_unknown_api_paths_and_bad_cursors_get_problem_bodies(world) -> None:
    client = client_for(world["auditor"])
    missing = client.get("/api/v1/no-such-thing/%C3%A9/")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/problem+json"
    bad_cursor = client.get("/api/v1/ledger/entries/", {"cursor": "not-a-cursor"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["code"] == "invalid_cursor"
    assert "cursor" in bad_cursor.json()["errors"]


def test_entries_about_a_firms_people_and_keys_are_for_those_who_manage_them(world) -> None:
    admin = User.objects.create_user("own-admin", member=world["own_member"], member_role=MemberRole.ADMIN)
    for kind in ("member.user_added", "member.api_key_created"):
        ledger_append(
            kind=kind,
            actor=admin,
            subject_type="user",
            subject_id=1,
            members=[world["own_member"].id],
            payload={},
        )
    ledger_sequence()
    kinds_for = {
        who: {
            row["kind"]
            for row in client_for(user).get("/api/v1/ledger/entries/?page_size=100").json()["results"]
        }
        for who, user in (("analyst", world["own"]), ("admin", admin))
    }
    assert "member.user_added" in kinds_for["admin"] and "member.api_key_created" in kinds_for["admin"]
    assert not {"member.user_added", "member.api_key_created"} & kinds_for["analyst"]
    assert "test.own" in kinds_for["analyst"]


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "position",
    ["abc", "4.5", "1e5", "\x00", "", " 3", "+3", "\uff13", "-1", "9223372036854775808", "9" * 400],
)
def test_a_cursor_whose_position_is_not_a_sequence_number_is_refused(world, position) -> None:
    """The position of a cursor is a sequence number: anything else is the client's mistake (it used to be
    handed to the database as `seq` and answer 500)."""
    cursor = _cursor(f"p={position}")
    response = client_for(world["auditor"]).get("/api/v1/ledger/entries/", {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "invalid_cursor" and "cursor" in body["errors"]


@pytest.mark.parametrize("tokens", ["o=x", "o=-1", "r=x", "p=3&r=x", "not-a-cursor"])
def test_a_cursor_with_a_bad_offset_or_direction_is_refused(world, tokens) -> None:
    raw = tokens if tokens == "not-a-cursor" else _cursor(tokens)
    response = client_for(world["auditor"]).get("/api/v1/ledger/entries/", {"cursor": raw})
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


def test_cursors_the_api_hands_out_page_through_every_entry(world) -> None:
    client = client_for(world["auditor"])
    seqs, url = [], "/api/v1/ledger/entries/?page_size=3"
    while url:
        page = client.get(url).json()
        seqs += [row["seq"] for row in page["results"]]
        url = page["next"]
    assert seqs == list(range(8))
    back = client.get("/api/v1/ledger/entries/", {"cursor": _cursor("p=5&r=1"), "page_size": 2}).json()
    assert [row["seq"] for row in back["results"]] == [3, 4]
    largest = client.get("/api/v1/ledger/entries/", {"cursor": _cursor(f"p={2**63 - 1}")}).json()
    assert largest["results"] == []


@pytest.mark.parametrize(
    ("page_size", "rows"), [("0", None), ("-1", None), ("abc", None), ("2", 2), ("100000", 8)]
)
def test_a_page_size_is_checked_like_every_other_lists(world, page_size, rows) -> None:
    """As consortium.api.pagination: a page size that is not a whole number from 1 is a 400
    invalid_page_size (DRF read it as the default), a larger one than the maximum means the maximum."""
    response = client_for(world["auditor"]).get("/api/v1/ledger/entries/", {"page_size": page_size})
    if rows is None:
        assert response.status_code == 400 and response.json()["code"] == "invalid_page_size"
    else:
        assert response.status_code == 200 and len(response.json()["results"]) == rows


def test_a_proof_against_a_tree_before_the_entry_says_so_and_names_the_checkpoint_to_use(world) -> None:
    """The entry (seq 9) came after the checkpoint of size 8: the answer names the entry, the tree asked
    for and the latest signed checkpoint, and says to ask against a later one (the client sent no seq)."""
    late = ledger_append(kind="test.late", actor=world["own"], subject_type="x", subject_id=1, payload={})
    ledger_append(kind="test.later", actor=None, subject_type="x", subject_id=2, payload={})
    ledger_sequence()
    ledger_append(kind="test.latest", actor=None, subject_type="x", subject_id=3, payload={})
    ledger_sequence()  # the tree has 11 entries; the latest checkpoint still signs 8
    client = client_for(world["own"])
    leaf_hash = bytes(late.leaf_hash).hex()
    response = client.get("/api/v1/ledger/proofs/inclusion/", {"leaf_hash": leaf_hash, "tree_size": 8})
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "entry_not_in_tree"
    assert (body["seq"], body["tree_size"], body["latest_checkpoint_size"], body["current_tree_size"]) == (
        8,
        8,
        8,
        11,
    )
    assert "seq" not in body["errors"] and "tree_size" in body["errors"]
    assert "seq 8" in body["detail"] and "size 8" in body["detail"]
    assert "later checkpoint" in body["detail"] and "seq must be below" not in body["detail"]

    checkpoint_issue()  # now the latest checkpoint holds it: the answer says which size to ask for
    body = client.get("/api/v1/ledger/proofs/inclusion/", {"leaf_hash": leaf_hash, "tree_size": 8}).json()
    assert body["code"] == "entry_not_in_tree" and body["latest_checkpoint_size"] == 11
    assert "tree_size=11" in body["detail"]
    proof = client.get("/api/v1/ledger/proofs/inclusion/", {"leaf_hash": leaf_hash, "tree_size": 11})
    assert proof.status_code == 200 and proof.json()["seq"] == 8

    by_seq = client.get("/api/v1/ledger/proofs/inclusion/", {"seq": 9, "tree_size": 8}).json()
    assert by_seq["code"] == "entry_not_in_tree" and by_seq["seq"] == 9


def test_a_proof_for_a_sequence_number_beyond_the_tree_says_the_tree_is_smaller(world) -> None:
    body = client_for(world["own"]).get("/api/v1/ledger/proofs/inclusion/", {"seq": 8, "tree_size": 8}).json()
    assert body["code"] == "seq_out_of_range" and body["current_tree_size"] == 8
    assert "seq 0 to 7" in body["detail"]


def test_every_ledger_operation_says_what_it_returns_and_who_may_call_it(api_client) -> None:
    import yaml

    schema = yaml.safe_load(api_client.get("/api/schema/").content)
    operations = [
        (path, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/ledger/")
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) == 9
    for path, operation in operations:
        assert operation.get("summary"), path
        assert "Who:" in operation.get("description", ""), path


def test_an_entry_accepted_but_not_yet_sequenced_is_told_apart_from_an_unknown_hash(world, settings) -> None:
    """A partner asks for the proof of the entry its receipt names at once: the answer says the entry is
    waiting for its number and when to ask again (409, Retry-After), not that no such entry exists."""
    settings.LEDGER = {**settings.LEDGER, "SEQUENCER_INTERVAL_SECONDS": 7}
    entry = ledger_append(kind="test.fresh", actor=None, subject_type="x", subject_id=1, payload={})
    client = client_for(world["own"])
    asked = {"leaf_hash": bytes(entry.leaf_hash).hex(), "tree_size": 8}

    with pytest.MonkeyPatch.context() as patch:  # asked at once: a slow runner must not make it 6
        patch.setattr(timezone, "now", lambda: entry.accepted_at)
        waiting = client.get("/api/v1/ledger/proofs/inclusion/", asked)
    assert waiting.status_code == 409
    body = waiting.json()
    assert body["code"] == "entry_not_sequenced"
    assert body["retry_after_seconds"] == 7 and waiting["Retry-After"] == "7"
    assert body["max_integration_delay_seconds"] == 7
    assert parse_datetime(body["accepted_at"]) == entry.accepted_at

    # overdue (the sequencer is late): a whole interval again, not a retry every second
    later = entry.accepted_at + timedelta(seconds=30)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: later)
        overdue = client.get("/api/v1/ledger/proofs/inclusion/", asked)
    assert overdue.status_code == 409 and overdue["Retry-After"] == "7"

    unknown = client.get("/api/v1/ledger/proofs/inclusion/", {**asked, "leaf_hash": "ab" * 32})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_leaf_hash"
    assert "Retry-After" not in unknown

    ledger_sequence()
    checkpoint_issue()
    proved = client.get("/api/v1/ledger/proofs/inclusion/", {**asked, "tree_size": 9})
    assert proved.status_code == 200 and proved.json()["seq"] == 8


def test_a_proof_by_leaf_hash_is_not_refused_for_a_seq_the_caller_never_sent(world, monkeypatch) -> None:
    """The sequencer may commit while a proof by leaf hash is answered: the entry's leaf is looked up before
    the tree's size, so a leaf added in between is never 'beyond the tree' (400 seq_out_of_range, for a
    request that named no seq)."""
    entry = ledger_append(kind="test.racing", actor=None, subject_type="x", subject_id=1, payload={})
    read_size = tree.tree_size

    def size_then_sequence() -> int:
        size = read_size()
        ledger_sequence()  # the sequencer commits right after the size was read
        return size

    monkeypatch.setattr(tree, "tree_size", size_then_sequence)
    asked = {"leaf_hash": bytes(entry.leaf_hash).hex(), "tree_size": 8}
    response = client_for(world["own"]).get("/api/v1/ledger/proofs/inclusion/", asked)
    assert response.status_code == 409 and response.json()["code"] == "entry_not_sequenced"
    # once sequenced and in a checkpoint, the proof is given
    monkeypatch.setattr(tree, "tree_size", read_size)
    checkpoint_issue()
    proved = client_for(world["own"]).get("/api/v1/ledger/proofs/inclusion/", {**asked, "tree_size": 9})
    assert proved.status_code == 200 and proved.json()["seq"] == 8


def test_security_officers_read_checkpoints_and_proofs_but_no_entries(world) -> None:
    officer = User.objects.create_user("security", consortium_role=ConsortiumRole.SECURITY_OFFICER)
    client = client_for(officer)
    assert client.get("/api/v1/ledger/entries/").json()["results"] == []
    assert client.get("/api/v1/ledger/entries/0/").status_code == 404
    assert client.get("/api/v1/ledger/checkpoints/latest/").json()["tree_size"] == 8
    assert client.get("/api/v1/ledger/proofs/inclusion/", {"seq": 0, "tree_size": 8}).status_code == 200
