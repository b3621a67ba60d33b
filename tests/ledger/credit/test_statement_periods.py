"""Statements cover the ledger without gaps: what happens between a settlement and the next epoch's opening
(no epoch open) is on the next statement, and each statement opens with the previous one's closing. A
closed statement does not change afterwards: its lines keep their state at the end of its period, and a
later post or void is named apart."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.utils import timezone

from ledger.credit import services
from ledger.credit.models import CreditEpoch, CreditTransfer
from ledger.services import ledger_sequence
from tests.ledger.credit.statement_support import grant_and_download, settled_epoch
from tests.ledger.credit.support import clock, days

pytestmark = pytest.mark.django_db

API = "/api/v1/credit"


def _next_month(epoch: str) -> str:
    year, month = map(int, epoch.split("-"))
    return f"{year + (month == 12):04d}-{month % 12 + 1:02d}"


@pytest.fixture
def two_epochs(data_steward, other_analyst, member, other_member):
    """Epoch 1 settled early; then, with no epoch open, a grant (fee charged) and a download; then epoch 2
    opens. Returns (epoch 1, epoch 2)."""
    first = settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])
    grant_and_download(data_steward, other_analyst, downloads=1)
    second = _next_month(first)
    services.credit_epoch_open(actor=None, epoch=second)
    ledger_sequence()
    return first, second


def test_the_next_statement_opens_with_the_previous_closing(
    two_epochs, client_for, data_steward, other_analyst
):
    first, second = two_epochs
    for user in (data_steward, other_analyst):
        client = client_for(user)
        before = client.get(f"{API}/statements/{first}/").json()
        after = client.get(f"{API}/statements/{second}/").json()
        assert after["opening"] == before["closing"]
        assert after["opening_seq"] == before["settled_seq"] is not None


def test_a_fee_charged_while_no_epoch_is_open_is_on_the_next_statement(
    two_epochs, client_for, other_analyst, other_member
):
    first, second = two_epochs
    opened_order = CreditEpoch.objects.get(epoch=second).opened_order
    settled_order = CreditEpoch.objects.get(epoch=first).settled_order
    in_gap = set(
        CreditTransfer.objects.filter(
            order__gt=settled_order,
            order__lt=opened_order,
            code="fee",
            debit__contains=f":{other_member.pk}:",
        ).values_list("id", flat=True)
    )
    assert len(in_gap) == 2  # the provider's part and the consortium fee
    statement = client_for(other_analyst).get(f"{API}/statements/{second}/").json()
    assert {line["transfer"] for line in statement["fees_spent"]} == in_gap
    assert sum(line["amount"] for line in statement["fees_spent"]) == -20_000
    assert all(line["seq"] is not None for line in statement["lines"])
    for opening, closing in zip(statement["opening"], statement["closing"], strict=True):
        moved = sum(
            line["amount"]
            for line in statement["lines"]
            if line["account"] == opening["account"] and line["flag"] in ("posted", "post_pending")
        )
        assert opening["posted"] + moved == closing["posted"]


def test_a_use_recorded_while_no_epoch_is_open_is_listed_with_its_reason(
    two_epochs, client_for, data_steward
):
    first, second = two_epochs
    earlier = client_for(data_steward).get(f"{API}/statements/{first}/").json()
    statement = client_for(data_steward).get(f"{API}/statements/{second}/").json()
    (dataset,) = statement["earned"]
    assert dataset["dataset"] not in [d["dataset"] for d in earlier["earned"]]
    (use,) = dataset["uses"]
    assert (use["points"], use["credited"], use["reason"]) == (0, False, "no_epoch")
    assert use["seq"] is not None


def test_the_page_names_the_settlement_the_statement_opens_after(two_epochs, client_for, data_steward):
    first, second = two_epochs
    statement = client_for(data_steward).get(f"{API}/statements/{first}/").json()
    html = client_for(data_steward).get("/credit/", {"epoch": second}).content.decode()
    assert f'data-field="opening_seq">{statement["settled_seq"]}<' in html


def _without_later(value: Any) -> Any:
    """A statement with every line's later_state and later_seq left out."""
    if isinstance(value, dict):
        return {key: _without_later(item) for key, item in value.items() if not key.startswith("later_")}
    if isinstance(value, list):
        return [_without_later(item) for item in value]
    return value


def test_a_fee_posted_after_the_period_stays_pending_on_the_closed_statement(
    client_for, data_steward, other_analyst, member, other_member
):
    client = client_for(data_steward)
    with clock(timezone.now()) as now:
        first = settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])
        before = client.get(f"{API}/statements/{first}/").json()
        now[0] += days(8)  # past the dispute window: the daily release posts the provider's leg
        assert services.credit_release() is not None
        ledger_sequence()
    after = client.get(f"{API}/statements/{first}/").json()
    (fee,) = after["fees_earned"]
    post = CreditTransfer.objects.select_related("entry__leaf").get(pending_id=fee["transfer"])
    assert post.order > CreditEpoch.objects.get(epoch=first).settled_order
    assert (fee["state"], fee["resolved_seq"]) == ("pending", None)
    assert (fee["later_state"], fee["later_seq"]) == ("posted", post.entry.leaf.seq)
    available = next(row for row in after["closing"] if row["kind"] == "available")
    assert available["pending_credits"] == fee["amount"] == 18_000  # what the line says, the balance counts
    assert _without_later(after) == _without_later(before)
    html = client.get("/credit/", {"epoch": first}).content.decode()
    assert 'data-field="later">posted<' in html
    header, *rows = csv.reader(
        io.StringIO(b"".join(client.get(f"{API}/statements/{first}/csv/").streaming_content).decode())
    )
    (row,) = [row for row in rows if row[header.index("section")] == "fee_earned"]
    assert [row[header.index(name)] for name in ("state", "later_state", "later_seq")] == [
        "pending",
        "posted",
        str(post.entry.leaf.seq),
    ]

    second = _next_month(first)
    services.credit_epoch_open(actor=None, epoch=second)
    ledger_sequence()
    resolved = client.get(f"{API}/statements/{second}/").json()
    (line,) = [line for line in resolved["lines"] if line["transfer"] == post.id]
    assert (line["section"], line["state"], line["amount"]) == ("fee_resolved", "posted", 18_000)
