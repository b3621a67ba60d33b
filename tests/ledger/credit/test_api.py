"""Credit REST API: statements (JSON, CSV, sum-tree proof), balances, and for auditors the leaderboard,
flags, totals, transfers, held mints and adjustments; affiliations. Who sees what, and query counts."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest

from consortium.models import Sector, SizeClass
from ledger.credit import engine, services, sumtree
from ledger.credit.models import (
    AffiliationClaim,
    CreditAdjustment,
    CreditEpoch,
    CreditMember,
    CreditTransfer,
)
from ledger.models import LedgerEntry
from ledger.services import ledger_sequence
from tests.factories import MemberFactory, UserFactory
from tests.ledger.credit.statement_support import (
    grant_and_download,
    settled_epoch,
    settled_with_held_mint,
    use_of,
)
from tests.ledger.credit.support import activate, admit, balance

pytestmark = pytest.mark.django_db

API = "/api/v1/credit"


@pytest.fixture
def epoch(data_steward, other_analyst, member, other_member):
    return settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])


def _csv(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- statements ---------------------------------------------------------------------------------------------


def test_the_epochs_are_listed_for_whoever_may_read_their_statements(
    epoch, client_for, key_client, data_steward, auditor, security_officer
):
    """The no_epoch problem tells a client to list the epochs: there was no list to read."""
    later = f"{int(epoch[:4]) + 1}-{epoch[5:]}"
    services.credit_epoch_open(epoch=later)
    rules = CreditEpoch.objects.get(epoch=epoch).rules
    expected = [
        {"epoch": later, "state": "open", "rules": rules},
        {"epoch": epoch, "state": "settled", "rules": rules},
    ]
    for client in (client_for(data_steward), client_for(auditor), key_client(["read"])[0]):
        response = client.get(f"{API}/epochs/")
        assert response.status_code == 200 and response.json()["results"] == expected
    # no member, no statement to read: a security officer is listed none, as its balances
    assert client_for(security_officer).get(f"{API}/epochs/").json()["results"] == []
    assert client_for(None).get(f"{API}/epochs/").status_code in (401, 403)


def test_a_member_reads_its_statement_with_the_point_chain_and_every_line_sequenced(
    epoch, client_for, data_steward, member
):
    response = client_for(data_steward).get(f"{API}/statements/{epoch}/")
    assert response.status_code == 200
    statement = response.json()
    assert statement["member"]["id"] == member.pk and statement["settled"]
    (dataset,) = statement["earned"]
    # restricted, no quality report, trusted: 10 CR x 2.0 x 0.5 = 10, then 5, 2.5
    assert [use["points"] for use in dataset["uses"]] == [10_000, 5_000, 2_500]
    assert dataset["uses"][1]["chain"] == {
        "base_mcr": 10_000,
        "tier_bps": 20_000,
        "quality_bps": 5_000,
        "repeat_bps": 5_000,
        "k": 2,
        "age_days": 1,
        "ramp_days": 1,
    }
    assert statement["mint"]["amount"] == 17_500 and statement["mint"]["state"] == "posted"
    (fee,) = statement["fees_earned"]
    assert (fee["amount"], fee["state"]) == (18_000, "pending")  # 20 CR less 10%, in its dispute window
    assert statement["fees_spent"] == []
    assert all(line["seq"] is not None for line in statement["lines"])
    assert all(use["seq"] is not None for use in dataset["uses"])
    assert statement["settled_seq"] == statement["mint"]["seq"]
    closing = {row["kind"]: row for row in statement["closing"]}
    assert closing["available"]["posted"] == 17_500 and closing["available"]["pending_credits"] == 18_000
    assert closing["points"]["posted"] == 0  # points closed by the settlement
    assert statement["rank"] == {
        "rank": 1,
        "of": 1,
        "minted": 17_500,
        "damped_points": 17_500,
        "raw_points": 17_500,
    }
    # the approval came within a minute of the request: a rubber-stamp flag covering the provider's group
    assert [flag["rule"] for flag in statement["flags"]] == ["rubber_stamp"]
    assert all(item["seq"] is not None for item in statement["flags"][0]["evidence"])


def test_opening_plus_the_lines_gives_the_closing_balance(epoch, client_for, other_analyst):
    statement = client_for(other_analyst).get(f"{API}/statements/{epoch}/").json()
    for opening, closing in zip(statement["opening"], statement["closing"], strict=True):
        moved = sum(
            line["amount"]
            for line in statement["lines"]
            if line["account"] == opening["account"] and line["flag"] == "posted"
        )
        posted_pending = sum(
            line["amount"]
            for line in statement["lines"]
            if line["account"] == opening["account"] and line["flag"] == "post_pending"
        )
        assert opening["posted"] + moved + posted_pending == closing["posted"]
    spent = statement["fees_spent"]
    assert sum(line["amount"] for line in spent) == -20_000


def test_the_sum_tree_rebuilt_from_transfers_reproduces_the_root_in_epoch_settled(
    epoch, client_for, data_steward, other_analyst, member, other_member
):
    entry = LedgerEntry.objects.get(kind="epoch.settled")
    stated = json.loads(bytes(entry.canonical))["payload"]
    for user in (data_steward, other_analyst):
        proof = client_for(user).get(f"{API}/statements/{epoch}/").json()["proof"]
        assert proof["balance_root"] == stated["balance_root"]
        assert (proof["rebuilt_root"], proof["rebuilt_total"]) == (
            stated["balance_root"],
            stated["balance_total"],
        )
        assert proof["root_matches"] and proof["leaves"] == 3  # the consumer has no available account
        for account in proof["accounts"]:
            path = [(bytes.fromhex(step["hash"]), step["sum"], step["side"]) for step in account["path"]]
            root = bytes.fromhex(stated["balance_root"])
            assert sumtree.verify_inclusion(
                account["account"], account["balance"], path, root, stated["balance_total"]
            )
            assert not sumtree.verify_inclusion(
                account["account"], account["balance"] + 1, path, root, stated["balance_total"]
            )


def test_a_held_mint_is_left_out_of_the_tree_and_the_rebuilt_root_still_matches(client_for, auditor):
    epoch, provider = settled_with_held_mint()
    statement = client_for(auditor).get(f"{API}/statements/{epoch}/", {"member": provider.pk}).json()
    assert statement["mint"]["state"] == "pending"
    assert statement["proof"]["root_matches"]
    held = [flag for flag in statement["flags"] if flag["holds_mint"]]
    assert held and held[0]["held_mcr"] == statement["mint"]["amount"] > 0
    assert f"CR:member:{provider.pk}:available" not in [a["account"] for a in statement["proof"]["accounts"]]

    listed = client_for(auditor).get(f"{API}/held-mints/").json()["results"]
    assert [(mint["member"], mint["amount"]) for mint in listed] == [
        (provider.pk, statement["mint"]["amount"])
    ]
    resolved = client_for(auditor).post(
        f"{API}/held-mints/{epoch}:{provider.pk}/resolve/",
        {"decision": "release", "reason": "Real customers."},
    )
    assert resolved.status_code == 200 and resolved.json()["kind"] == "audit.resolved"
    assert client_for(auditor).get(f"{API}/held-mints/").json()["results"] == []
    ledger_sequence()
    after = client_for(auditor).get(f"{API}/statements/{epoch}/", {"member": provider.pk}).json()
    # the statement's period ended at the settlement: the mint stays pending there, the release is named
    assert (after["mint"]["state"], after["mint"]["resolved_seq"]) == ("pending", None)
    assert after["mint"]["later_state"] == "posted" and after["mint"]["later_seq"] is not None
    again = client_for(auditor).post(
        f"{API}/held-mints/{epoch}:{provider.pk}/resolve/", {"decision": "release", "reason": "Again."}
    )
    assert again.status_code == 404 and again.json()["code"] == "no_held_mint"


def test_members_see_only_their_own_statement(
    epoch, client_for, data_steward, other_member, security_officer
):
    own = client_for(data_steward)
    assert own.get(f"{API}/statements/{epoch}/", {"member": other_member.pk}).status_code == 404
    assert own.get(f"{API}/statements/{epoch}/csv/", {"member": other_member.pk}).status_code == 404
    assert own.get(f"{API}/statements/2001-01/").status_code == 404
    assert client_for(security_officer).get(f"{API}/statements/{epoch}/").status_code == 404
    assert client_for(None).get(f"{API}/statements/{epoch}/").status_code in (401, 403)


def test_an_auditor_names_the_member_and_reads_the_same_statement(
    epoch, client_for, auditor, data_steward, member
):
    assert client_for(auditor).get(f"{API}/statements/{epoch}/").json()["code"] == "member_required"
    as_auditor = client_for(auditor).get(f"{API}/statements/{epoch}/", {"member": member.pk}).json()
    assert as_auditor == client_for(data_steward).get(f"{API}/statements/{epoch}/").json()


def test_the_statement_csv_has_every_line_and_every_use(epoch, client_for, data_steward):
    statement = client_for(data_steward).get(f"{API}/statements/{epoch}/").json()
    response = client_for(data_steward).get(f"{API}/statements/{epoch}/csv/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    header, *rows = _csv(response)
    assert header[:5] == ["epoch", "member", "section", "seq", "order"]
    lines = [row for row in rows if row[2] != "use"]
    uses = [row for row in rows if row[2] == "use"]
    assert [int(row[8]) for row in lines] == [line["amount"] for line in statement["lines"]]
    assert [int(row[3]) for row in lines] == [line["seq"] for line in statement["lines"]]
    assert [int(row[8]) for row in uses] == [10_000, 5_000, 2_500]
    assert "x 5000 bps (k=2)" in uses[1][14]


def test_the_statement_csv_starts_with_a_byte_order_mark_only_when_asked(epoch, client_for, data_steward):
    client = client_for(data_steward)
    plain = b"".join(client.get(f"{API}/statements/{epoch}/csv/").streaming_content)
    marked = b"".join(client.get(f"{API}/statements/{epoch}/csv/", {"bom": "true"}).streaming_content)
    assert plain.startswith(b"epoch,member,")  # programs get no mark unless they ask
    assert marked == b"\xef\xbb\xbf" + plain  # for spreadsheets: Excel then reads UTF-8, names intact
    refused = client.get(f"{API}/statements/{epoch}/csv/", {"bom": "perhaps"})
    assert refused.status_code == 400 and refused.json()["errors"].keys() == {"bom"}


@pytest.mark.parametrize("accept", ["text/csv", "text/csv; charset=utf-8", "application/octet-stream", "*/*"])
def test_the_csv_exports_are_served_whatever_accept_names(epoch, client_for, auditor, data_steward, accept):
    """A CSV client asks for text/csv: DRF's negotiation, knowing only its JSON renderers, answered 406."""
    statement = client_for(data_steward).get(f"{API}/statements/{epoch}/csv/", HTTP_ACCEPT=accept)
    transfers = client_for(auditor).get(f"{API}/transfers/csv/", HTTP_ACCEPT=accept)
    for response in (statement, transfers):
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        assert len(_csv(response)) > 1
    refused = client_for(None).get(f"{API}/transfers/csv/", HTTP_ACCEPT=accept)
    assert refused.status_code in (401, 403) and refused["Content-Type"] == "application/problem+json"


def test_a_format_the_endpoint_lacks_names_the_formats_and_where_the_csv_is(
    epoch, client_for, auditor, member
):
    """`?format=csv` on a statement was DRF's bare 404 'Not found.', as if the statement did not exist."""
    asked = client_for(auditor).get(f"{API}/statements/{epoch}/", {"member": member.pk, "format": "csv"})
    assert asked.status_code == 404 and asked["Content-Type"] == "application/problem+json"
    body = asked.json()
    assert body["code"] == "unknown_format" and body["formats"] == ["json", "api"]
    assert body["suggested_path"] == f"{API}/statements/{epoch}/csv/?member={member.pk}"
    followed = client_for(auditor).get(body["suggested_path"])
    assert followed.status_code == 200 and followed["Content-Type"].startswith("text/csv")
    # no sibling serves it: the formats alone; a format the endpoint has is served as before
    xml = client_for(auditor).get(f"{API}/transfers/", {"format": "xml"}).json()
    assert xml["code"] == "unknown_format" and "suggested_path" not in xml
    assert client_for(auditor).get(f"{API}/transfers/", {"format": "json"}).status_code == 200


# --- balances -----------------------------------------------------------------------------------------------


def test_balances_are_the_callers_own_and_auditors_filter_all(
    epoch, client_for, data_steward, auditor, member, other_member, security_officer
):
    own = client_for(data_steward).get(f"{API}/balances/").json()["results"]
    assert {row["member"] for row in own} == {member.pk}
    available = next(row for row in own if row["kind"] == "available")
    assert (available["posted"], available["credits_pending"]) == (17_500, 18_000)
    # a member's filter cannot widen what it sees
    assert client_for(data_steward).get(f"{API}/balances/", {"member": other_member.pk}).json()["count"] == 0
    every = client_for(auditor).get(f"{API}/balances/").json()["results"]
    assert {row["account"] for row in every} >= {engine.ISSUANCE, engine.POOL, engine.FEES}
    other = (
        client_for(auditor).get(f"{API}/balances/", {"member": other_member.pk, "kind": "allowance"}).json()
    )
    assert [row["account"] for row in other["results"]] == [engine.member_allowance(other_member.pk)]
    assert client_for(security_officer).get(f"{API}/balances/").json()["count"] == 0
    assert client_for(None).get(f"{API}/balances/").status_code in (401, 403)


@pytest.mark.parametrize("path", ["balances/", "transfers/"])
def test_a_member_filter_that_is_not_a_member_id_is_a_400(epoch, client_for, auditor, member, path):
    """?member= is a row id (1..2**63-1), as on the ledger's entries: `2.5` was read as member 2."""
    client = client_for(auditor)
    assert client.get(f"{API}/{path}", {"member": member.pk}).json()["count"] > 0
    for not_an_id in (f"{member.pk}.5", f"{member.pk}e0", "0", "-1", str(2**63)):
        refused = client.get(f"{API}/{path}", {"member": not_an_id})
        assert refused.status_code == 400 and "member" in refused.json()["errors"], not_an_id


# --- auditors: leaderboard, flags, totals, transfers ---------------------------------------------------


def test_leaderboard_by_member_sector_and_size(epoch, client_for, auditor, member):
    board = client_for(auditor).get(f"{API}/leaderboard/{epoch}/").json()
    assert board["epoch"] == epoch and board["by"] == "member"
    assert [(row["rank"], row["member"], row["minted"]) for row in board["results"]] == [
        (1, member.pk, 17_500)
    ]
    sector = client_for(auditor).get(f"{API}/leaderboard/{epoch}/", {"by": "sector"}).json()["results"]
    assert [(row["key"], row["minted"]) for row in sector] == [(member.sector, 17_500)]
    assert sector[0]["label"] == Sector(member.sector).label  # "C Manufacturing", not the code alone
    size = client_for(auditor).get(f"{API}/leaderboard/{epoch}/", {"by": "size_class"}).json()["results"]
    assert [(row["key"], row["members"]) for row in size] == [(member.size_class, 1)]
    assert size[0]["label"] == SizeClass(member.size_class).label
    assert client_for(auditor).get(f"{API}/leaderboard/{epoch}/", {"by": "height"}).status_code == 400
    assert client_for(auditor).get(f"{API}/leaderboard/2001-01/").status_code == 404


def test_a_malformed_query_is_answered_alike_for_what_exists_and_what_does_not(
    epoch, client_for, data_steward, auditor, other_member
):
    """The query is parsed before anything is looked up (as everywhere in the API), after who may read at
    all: a malformed ?member= is the same 400 for a settled epoch, an unknown one and another member, and a
    well-formed one the same 404, so neither answer tells a member what exists; the flags, which a member
    may not read, are 404 whatever the ?epoch= (tests/api/test_reads_refused_before_parameters.py). An
    unknown ?by= is the leaderboard's own refusal (bad_grouping), judged after who may read the leaderboard
    and before the epoch is looked up: the same 404 for a member, the same 400 for an auditor."""
    client = client_for(data_steward)

    def answers(epoch_name: str) -> list[tuple[int, str]]:
        asked = [
            (f"leaderboard/{epoch_name}/", {"by": "height"}),
            (f"leaderboard/{epoch_name}/", {"by": "member"}),
            ("flags/", {"epoch": f"{epoch_name}x"}),
            ("flags/", {"epoch": epoch_name}),
            (f"statements/{epoch_name}/", {"member": "abc"}),
            (f"statements/{epoch_name}/csv/", {"member": "abc"}),
            (f"statements/{epoch_name}/", {"member": other_member.pk}),
        ]
        responses = [client.get(f"{API}/{path}", query) for path, query in asked]
        return [(response.status_code, response.json()["code"]) for response in responses]

    bad, missing = (400, "validation_error"), (404, "not_found")
    assert answers(epoch) == answers("2001-01") == [missing, missing, missing, missing, bad, bad, missing]
    for epoch_name in (epoch, "2001-01"):
        by_height = client_for(auditor).get(f"{API}/leaderboard/{epoch_name}/", {"by": "height"})
        assert (by_height.status_code, by_height.json()["code"]) == (400, "bad_grouping")


def test_flags_carry_metrics_and_evidence_seqs(epoch, client_for, auditor):
    flags = client_for(auditor).get(f"{API}/flags/", {"epoch": epoch}).json()["results"]
    assert [flag["rule"] for flag in flags] == ["rubber_stamp"]
    assert flags[0]["metrics"]["fast_limit_us"] == 60_000_000
    (evidence,) = flags[0]["evidence"]
    granted = CreditTransfer.objects.filter(order=evidence["order"]).select_related("entry__leaf").first()
    assert granted.entry.kind == "access.granted" and evidence["seq"] == granted.entry.leaf.seq
    assert client_for(auditor).get(f"{API}/flags/", {"epoch": "2001-01"}).json()["count"] == 0


def test_totals_reconcile_with_fees_and_mints_in_flight(
    epoch, client_for, auditor, data_steward, other_analyst
):
    grant_and_download(data_steward, other_analyst, downloads=0)  # after the settlement: another fee held
    totals = client_for(auditor).get(f"{API}/totals/").json()
    assert totals["outstanding"] == 100_000_000  # the epoch budget, issued once
    assert totals["in_flight"] == 18_000 + 18_000  # two provider legs in their dispute window
    buckets = totals["buckets"]
    assert buckets["escrow"]["posted"] == 0
    assert buckets["members"]["pending_debits"] == totals["in_flight"]
    assert totals["posted_sum"] == totals["available_plus_in_flight"] == totals["outstanding"]
    assert totals["reconciles"] is True


def test_transfers_filter_and_order_and_stream_as_csv(epoch, client_for, auditor, member, other_member):
    client = client_for(auditor)
    every = client.get(f"{API}/transfers/", {"page_size": 100}).json()["results"]
    assert [(row["order"], row["leg"]) for row in every] == sorted(
        (row["order"], row["leg"]) for row in every
    )
    assert all(row["seq"] is not None for row in every)
    fees = client.get(f"{API}/transfers/", {"code": "fee", "member": member.pk}).json()["results"]
    assert [row["role"] for row in fees] == ["provider"]
    first, last = CreditEpoch.objects.values_list("opened_order", "settled_order").get()
    in_epoch = client.get(f"{API}/transfers/", {"epoch": epoch, "page_size": 100}).json()["count"]
    assert in_epoch == CreditTransfer.objects.filter(order__gte=first, order__lte=last).count()
    ranged = client.get(f"{API}/transfers/", {"order_min": last, "order_max": last}).json()["results"]
    assert {row["code"] for row in ranged} == {"mint", "points_closed"}
    response = client.get(f"{API}/transfers/csv/", {"unit": "CR"})
    assert response.streaming
    header, *rows = _csv(response)
    assert header[:3] == ["id", "order", "seq"]
    assert [row[0] for row in rows] == list(
        CreditTransfer.objects.filter(unit="CR").order_by("order", "leg").values_list("id", flat=True)
    )


@pytest.mark.parametrize(
    "path",
    [
        "leaderboard/{epoch}/",
        "flags/",
        "totals/",
        "transfers/",
        "transfers/csv/",
        "held-mints/",
        "adjustments/",
    ],
)
def test_auditor_views_are_not_found_for_members(epoch, client_for, member_admin, officer, path):
    url = f"{API}/{path.format(epoch=epoch)}"
    assert client_for(member_admin).get(url).status_code == 404
    assert client_for(None).get(url).status_code in (401, 403)
    assert client_for(officer).get(url).status_code == 200


# --- writes -------------------------------------------------------------------------------------------------


def test_adjustments_need_a_second_auditor(epoch, client_for, auditor, officer, member, member_admin):
    proposed = client_for(auditor).post(
        f"{API}/adjustments/", {"member": member.pk, "amount_mcr": 5_000, "reason": "Missed use."}
    )
    assert proposed.status_code == 201
    pk = proposed.json()["id"]
    same = client_for(auditor).post(f"{API}/adjustments/{pk}/approve/")
    assert same.status_code == 403 and same.json()["code"] == "second_approver_required"
    assert client_for(member_admin).post(f"{API}/adjustments/{pk}/approve/").status_code == 404
    assert (
        client_for(member_admin)
        .post(f"{API}/adjustments/", {"member": member.pk, "amount_mcr": 1, "reason": "x"})
        .status_code
        == 404
    )
    approved = client_for(officer).post(f"{API}/adjustments/{pk}/approve/")
    assert approved.status_code == 200
    assert approved.json()["entry"]["kind"] == "credit.adjusted"
    assert approved.json()["adjustment"]["approved_by"] == "officer"
    zero = client_for(auditor).post(
        f"{API}/adjustments/", {"member": member.pk, "amount_mcr": 0, "reason": "x"}
    )
    assert zero.status_code == 400 and zero.json()["code"] == "bad_amount"


def test_a_refused_adjustment_posts_nothing_through_the_api(epoch, client_for, auditor, officer, member):
    def posted() -> tuple[int, int]:
        return (
            LedgerEntry.objects.filter(kind="credit.adjusted").count(),
            CreditTransfer.objects.filter(code="adjustment").count(),
        )

    proposed = client_for(auditor).post(
        f"{API}/adjustments/", {"member": member.pk, "amount_mcr": 5_000, "reason": "Missed use."}
    )
    one_approver = client_for(auditor).post(f"{API}/adjustments/{proposed.json()['id']}/approve/")
    assert one_approver.status_code == 403 and one_approver.json()["code"] == "second_approver_required"
    assert posted() == (0, 0)
    assert CreditAdjustment.objects.get(pk=proposed.json()["id"]).approved_by is None

    available = balance(engine.member_available(member.pk))
    claw_back = client_for(auditor).post(
        f"{API}/adjustments/", {"member": member.pk, "amount_mcr": -(available + 1), "reason": "Claw back."}
    )
    beyond = client_for(officer).post(f"{API}/adjustments/{claw_back.json()['id']}/approve/")
    assert beyond.status_code == 409
    assert beyond.json()["code"] == "insufficient_credit" and beyond.json()["shortfall_mcr"] == 1
    assert posted() == (0, 0)
    assert CreditAdjustment.objects.get(pk=claw_back.json()["id"]).approved_by is None
    assert balance(engine.member_available(member.pk)) == available


def test_an_adjustment_is_a_line_of_the_members_statement_with_its_seq_in_json_and_html(
    client_for, auditor, officer, data_steward, other_analyst, member, other_member
):
    activate()
    admit(member, other_member)
    grant_and_download(data_steward, other_analyst, downloads=1)
    adjustment = services.credit_adjustment_propose(
        actor=auditor, member=member, amount_mcr=5_000, reason="A download the log missed."
    )
    entry = services.credit_adjustment_approve(actor=officer, adjustment=adjustment)
    epoch = CreditEpoch.objects.get().epoch
    services.credit_epoch_settle(epoch=epoch, early=True)
    ledger_sequence()
    client = client_for(data_steward)
    statement = client.get(f"{API}/statements/{epoch}/").json()
    (line,) = statement["adjustments"]
    assert (line["amount"], line["state"], line["counterparty"]) == (5_000, "posted", engine.POOL)
    assert line["seq"] == LedgerEntry.objects.get(pk=entry.pk).leaf.seq
    closing = {row["kind"]: row["posted"] for row in statement["closing"]}
    assert closing["available"] == 5_000 + statement["mint"]["amount"]
    html = client.get("/credit/", {"epoch": epoch}).content.decode()
    row = html.split(f'<tr data-line="{line["transfer"]}">', 1)[1].split("</tr>", 1)[0]
    assert f"<td>{line['seq']}</td><td>adjustment</td>" in row and 'value="5000"' in row


def test_officers_link_and_member_admins_declare_affiliations(
    client_for, officer, member, other_member, member_admin, analyst, other_admin
):
    activate()
    admit(member, other_member)
    third = MemberFactory()
    linked = client_for(officer).post(f"{API}/affiliations/", {"member": third.pk, "parent": member.pk})
    assert linked.status_code == 201 and linked.json()["kind"] == "member.affiliated"
    refused = client_for(member_admin).post(f"{API}/affiliations/", {"member": third.pk, "parent": member.pk})
    assert refused.status_code == 403
    declared = client_for(other_admin).post(f"{API}/affiliations/declare/", {"parent": member.pk})
    assert declared.status_code == 202 and declared.json()["state"] == "awaiting_parent"
    claim = declared.json()["id"]
    groups = dict(CreditMember.objects.values_list("member", "group"))
    assert groups[other_member.pk] != groups[member.pk]  # nothing changes until the parent accepts
    again = client_for(other_admin).post(f"{API}/affiliations/declare/", {"parent": member.pk})
    assert again.status_code == 409 and again.json()["code"] == "claim_open"
    # the declaring member cannot accept its own claim; the parent's admins can, once
    assert client_for(other_admin).post(f"{API}/affiliation-claims/{claim}/accept/").status_code == 403
    assert client_for(analyst).post(f"{API}/affiliation-claims/{claim}/accept/").status_code == 403
    accepted = client_for(member_admin).post(f"{API}/affiliation-claims/{claim}/accept/")
    assert accepted.status_code == 201 and accepted.json()["subject_id"] == str(other_member.pk)
    assert CreditMember.objects.get(member=other_member.pk).group == f"m{member.pk}"
    twice = client_for(member_admin).post(f"{API}/affiliation-claims/{claim}/accept/")
    assert twice.status_code == 409 and twice.json()["code"] == "already_decided"
    outsider = client_for(UserFactory(member=MemberFactory(), member_role="member_admin"))
    assert outsider.post(f"{API}/affiliation-claims/{claim}/accept/").status_code == 404
    listed = client_for(member_admin).get(f"{API}/affiliation-claims/").json()["results"]
    assert [row["state"] for row in listed] == ["accepted"]
    assert (
        client_for(analyst).post(f"{API}/affiliations/declare/", {"parent": other_member.pk}).status_code
        == 403
    )
    missing = client_for(officer).post(f"{API}/affiliations/", {"member": 999_999, "parent": member.pk})
    assert missing.status_code == 404
    assert client_for(None).post(f"{API}/affiliations/declare/", {"parent": member.pk}).status_code in (
        401,
        403,
    )


def test_a_member_already_in_the_parents_group_cannot_declare_it_again(
    client_for, officer, member, other_member, member_admin, other_admin
):
    """A claim that accepting would not change blocked the member's next declaration (claim_open) and could
    never be accepted (already_affiliated, rolling the decision back): it is refused when declared."""
    activate()
    admit(member, other_member)
    assert (
        client_for(officer)
        .post(f"{API}/affiliations/", {"member": other_member.pk, "parent": member.pk})
        .status_code
        == 201
    )
    again = client_for(other_admin).post(f"{API}/affiliations/declare/", {"parent": member.pk})
    assert again.status_code == 409 and again.json()["code"] == "already_affiliated"
    assert not AffiliationClaim.objects.exists()


def test_accepting_a_member_that_joined_meanwhile_closes_the_claim(
    client_for, officer, member, other_member, member_admin, other_admin
):
    activate()
    admit(member, other_member)
    claim = client_for(other_admin).post(f"{API}/affiliations/declare/", {"parent": member.pk}).json()["id"]
    assert (
        client_for(officer)
        .post(f"{API}/affiliations/", {"member": other_member.pk, "parent": member.pk})
        .status_code
        == 201
    )
    entries = LedgerEntry.objects.count()
    accepted = client_for(member_admin).post(f"{API}/affiliation-claims/{claim}/accept/")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert LedgerEntry.objects.count() == entries  # nothing to join: nothing written
    # the declaring member is free to declare again (here: refused only because nothing would change)
    again = client_for(other_admin).post(f"{API}/affiliations/declare/", {"parent": member.pk})
    assert again.json()["code"] == "already_affiliated"


def test_resolving_a_held_mint_is_not_found_for_members(epoch, client_for, member_admin, member):
    response = client_for(member_admin).post(
        f"{API}/held-mints/{epoch}:{member.pk}/resolve/", {"decision": "release", "reason": "Mine."}
    )
    assert response.status_code == 404


# --- query counts -------------------------------------------------------------------------------------------


@pytest.fixture
def many(data_steward, member):
    """100 providers each used once by one fresh consumer, and one it used a lot (a held mint, flags),
    settled: 100+ accounts, mints and transfers."""
    consumer = MemberFactory()
    providers = MemberFactory.create_batch(100)
    activate()
    admit(consumer, member, *providers)
    for index, provider in enumerate(providers, start=1):
        use_of(provider=provider.pk, consumer=consumer.pk, dataset=index)
    for dataset in range(1000, 1014):  # 210 CR from a fresh group: fresh_cluster (held) and concentration
        use_of(provider=member.pk, consumer=consumer.pk, dataset=dataset, tier="confidential")
    epoch = CreditEpoch.objects.get().epoch
    services.credit_epoch_settle(epoch=epoch, early=True)
    ledger_sequence()
    return epoch


@pytest.mark.parametrize("page_size", [10, 100])
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # session, user; count, page (+ the epoch's range for ?epoch)
        ("balances/", 4),
        ("transfers/", 4),
        ("held-mints/", 4),
        ("adjustments/", 4),
        # session, user; each epoch's count of flags, the settlements of the page's epochs, seqs of the
        # page's evidence orders (through their transfers)
        ("flags/", 5),
        # session, user; epoch, mints, their resolutions, members
        ("leaderboard/{epoch}/", 6),
    ],
)
def test_lists_cost_the_same_queries_at_any_page_size(
    many, client_for, auditor, page_size, path, expected, django_assert_num_queries
):
    members = [MemberFactory() for _ in range(page_size)]
    admit(*members)
    for member in members:
        services.credit_adjustment_propose(actor=auditor, member=member, amount_mcr=1, reason="r")
    client = client_for(auditor)
    url = f"{API}/{path.format(epoch=many)}"
    with django_assert_num_queries(expected):
        response = client.get(url, {"page_size": page_size})
    assert response.status_code == 200
    if path not in ("flags/", "held-mints/"):
        assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("page_size", [10, 100])
def test_a_members_balances_cost_the_same_queries(
    many, client_for, data_steward, member, page_size, django_assert_num_queries
):
    client = client_for(data_steward)
    with django_assert_num_queries(5):  # session, user, member (capabilities); count, page
        response = client.get(f"{API}/balances/", {"page_size": page_size})
    assert {row["member"] for row in response.json()["results"]} == {member.pk}


@pytest.mark.parametrize("page_size", [10, 100])
def test_affiliation_claims_cost_the_same_queries_and_stay_with_their_members(
    client_for, member_admin, member, page_size, django_assert_num_queries
):
    from django.utils import timezone

    from ledger.credit.models import AffiliationClaim

    declarers = [UserFactory(member=MemberFactory(), member_role="member_admin") for _ in range(page_size)]
    AffiliationClaim.objects.bulk_create(
        AffiliationClaim(
            member=user.member_id, parent=member.pk, declared_by=user, declared_at=timezone.now()
        )
        for user in declarers
    )
    client = client_for(member_admin)
    with django_assert_num_queries(5):  # session, user, member (capabilities); count, page
        response = client.get(f"{API}/affiliation-claims/", {"page_size": page_size})
    assert len(response.json()["results"]) == page_size
    outsider = client_for(UserFactory(member=MemberFactory(), member_role="member_admin"))
    assert outsider.get(f"{API}/affiliation-claims/").json()["results"] == []


def test_a_member_cannot_declare_a_parent_it_may_not_see(client_for, other_admin):
    applicant = MemberFactory(status="applied")
    response = client_for(other_admin).post(f"{API}/affiliations/declare/", {"parent": applicant.pk})
    assert response.status_code == 404


def test_a_credit_action_hands_back_its_receipt_as_the_ledger_shows_the_entry(
    client_for, officer, member, other_member
):
    # One shape of a receipt everywhere (ledger.receipts): `seq`, `canonical` (base64) and the typed
    # `receipt` that /api/v1/ledger/entries/ gives for the same entry, as the exchange's decisions carry.
    activate()
    admit(member, other_member)
    third = MemberFactory()
    linked = client_for(officer).post(f"{API}/affiliations/", {"member": third.pk, "parent": member.pk})
    assert linked.status_code == 201
    body = linked.json()
    assert body["seq"] is None  # not sequenced yet
    ledger_sequence()
    entry = LedgerEntry.objects.get(kind="member.affiliated", subject_id=str(third.pk))
    assert base64.b64decode(body["canonical"]) == bytes(entry.canonical)
    seq = entry.leaf.seq
    shown = client_for(officer).get(f"/api/v1/ledger/entries/{seq}/").json()
    assert body["receipt"] == shown["receipt"] and body["canonical"] == shown["canonical"]
    assert set(body) == {"seq", "kind", "subject_type", "subject_id", "receipt", "canonical"}


def test_a_proposed_adjustment_is_withdrawn_and_can_no_longer_be_approved(
    epoch, client_for, auditor, officer, member, member_admin
):
    """A mistaken proposal (wrong member or amount) is withdrawn by an auditor or officer, the proposer
    included; nothing was posted, so nothing is written to the ledger, and it can no longer be approved."""
    entries = LedgerEntry.objects.count()
    proposed = client_for(auditor).post(
        f"{API}/adjustments/", {"member": member.pk, "amount_mcr": 50_000, "reason": "Typo: meant 5,000."}
    )
    pk = proposed.json()["id"]
    assert proposed.json()["withdrawn_by"] is None
    assert client_for(member_admin).post(f"{API}/adjustments/{pk}/withdraw/").status_code == 404
    withdrawn = client_for(auditor).post(f"{API}/adjustments/{pk}/withdraw/")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["withdrawn_by"] == "auditor" and withdrawn.json()["withdrawn_at"]
    approve = client_for(officer).post(f"{API}/adjustments/{pk}/approve/")
    assert approve.status_code == 409 and approve.json()["code"] == "adjustment_withdrawn"
    again = client_for(officer).post(f"{API}/adjustments/{pk}/withdraw/")
    assert again.status_code == 409 and again.json()["code"] == "adjustment_withdrawn"
    assert LedgerEntry.objects.count() == entries
    assert not CreditTransfer.objects.filter(code="adjustment").exists()

    # an approved one is posted: it is corrected by a new adjustment, not withdrawn
    second = (
        client_for(auditor)
        .post(f"{API}/adjustments/", {"member": member.pk, "amount_mcr": 5_000, "reason": "Missed use."})
        .json()["id"]
    )
    assert client_for(officer).post(f"{API}/adjustments/{second}/approve/").status_code == 200
    late = client_for(auditor).post(f"{API}/adjustments/{second}/withdraw/")
    assert late.status_code == 409 and late.json()["code"] == "already_approved"
