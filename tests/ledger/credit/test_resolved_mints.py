"""Once an auditor releases or forfeits a held mint, statements and the leaderboard say so: nothing is shown
as held any more, and a forfeited mint no longer counts as minted (nor for the rank). The mint line keeps
its state at the settlement (pending) and names the resolution as later."""

from __future__ import annotations

import pytest

from ledger.services import ledger_sequence
from tests.ledger.credit.statement_support import settled_with_held_mint, settled_with_mint_held_twice

pytestmark = pytest.mark.django_db

API = "/api/v1/credit"


@pytest.fixture
def held():
    """(epoch, provider): a settled epoch whose only provider's mint is held."""
    return settled_with_held_mint()


def _views(client, epoch, provider):
    statement = client.get(f"{API}/statements/{epoch}/", {"member": provider.pk}).json()
    (row,) = client.get(f"{API}/leaderboard/{epoch}/").json()["results"]
    (sector,) = client.get(f"{API}/leaderboard/{epoch}/", {"by": "sector"}).json()["results"]
    return statement, row, sector


def test_while_held_the_statement_and_the_leaderboard_show_the_amount_held(held, client_for, auditor):
    epoch, provider = held
    client = client_for(auditor)
    statement, row, sector = _views(client, epoch, provider)
    amount = statement["mint"]["amount"]
    assert amount > 0 and statement["mint"]["state"] == "pending"
    assert [flag["held_mcr"] for flag in statement["flags"] if flag["holds_mint"]] == [amount]
    assert (row["minted"], row["held"]) == (sector["minted"], sector["held"]) == (amount, amount)
    assert client.get(f"{API}/totals/").json()["buckets"]["pool"]["pending_debits"] == amount


@pytest.mark.parametrize(
    ("decision", "state", "minted"), [("release", "posted", True), ("forfeit", "void", False)]
)
def test_after_the_audit_nothing_is_shown_as_held(held, client_for, auditor, decision, state, minted):
    epoch, provider = held
    client = client_for(auditor)
    amount = _views(client, epoch, provider)[0]["mint"]["amount"]
    resolved = client.post(
        f"{API}/held-mints/{epoch}:{provider.pk}/resolve/", {"decision": decision, "reason": "Audited."}
    )
    assert resolved.status_code == 200
    ledger_sequence()
    statement, row, sector = _views(client, epoch, provider)
    mint = statement["mint"]
    assert (mint["amount"], mint["state"], mint["later_state"]) == (amount, "pending", state)
    assert all(flag["held_mcr"] == 0 for flag in statement["flags"])
    expected = amount if minted else 0
    assert (row["minted"], row["held"]) == (sector["minted"], sector["held"]) == (expected, 0)
    assert statement["rank"]["minted"] == expected
    assert client.get(f"{API}/totals/").json()["in_flight"] == 0


def test_a_mint_held_by_two_flags_is_held_once(client_for, auditor):
    epoch, provider = settled_with_mint_held_twice()
    client = client_for(auditor)
    statement = client.get(f"{API}/statements/{epoch}/", {"member": provider.pk}).json()
    amount = statement["mint"]["amount"]
    holding = [flag for flag in statement["flags"] if flag["held_mcr"]]
    assert [flag["rule"] for flag in holding] == ["ring", "fresh_cluster"]
    assert all(flag["held_mcr"] == amount > 0 for flag in holding)  # each flag holds the whole mint
    assert statement["held_mcr"] == amount  # and it is held once
    board = client.get(f"{API}/leaderboard/{epoch}/").json()["results"]
    assert next(row["held"] for row in board if row["member"] == provider.pk) == amount
    (sector,) = client.get(f"{API}/leaderboard/{epoch}/", {"by": "sector"}).json()["results"]
    totals = client.get(f"{API}/totals/").json()
    assert sector["held"] == sum(row["held"] for row in board) == totals["in_flight"]
    assert totals["reconciles"]
    html = client.get("/credit/", {"epoch": epoch, "member": provider.pk}).content.decode()
    assert html.count('data-field="held-total"') == 1 and f'data-field="held-total" value="{amount}"' in html

    client.post(f"{API}/held-mints/{epoch}:{provider.pk}/resolve/", {"decision": "release", "reason": "Ok."})
    ledger_sequence()
    after = client.get(f"{API}/statements/{epoch}/", {"member": provider.pk}).json()
    assert after["held_mcr"] == 0 and not any(flag["held_mcr"] for flag in after["flags"])
