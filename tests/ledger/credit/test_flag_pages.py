"""The flags of settled epochs are listed a page at a time without building the others: a page reads the
settlements of the epochs it covers and the sequence numbers of its own flags' evidence only, in as many
queries however many epochs and flags there are; and the pages together are the whole list, in order."""

from __future__ import annotations

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.credit import selectors
from ledger.credit.models import CreditEpoch
from ledger.credit.selectors import oversight

pytestmark = pytest.mark.django_db

FLAGS = "/api/v1/credit/flags/"


def _flag(epoch: int, index: int) -> dict:
    return {
        "rule": "ring",
        "groups": [f"g{epoch}-{index}"],
        "covers": [],
        "holds_mint": False,
        "metrics": {"inside_share_bps": index},
        "evidence": [epoch * 1000 + index, epoch * 1000 + index + 500],  # orders no transfer took: no seq
    }


def _settle(epochs: int, first: int = 0) -> None:
    """Settled epochs numbered `first` to `first + epochs - 1`, of three flags each; with the first, one
    recorded when a settlement kept only the count of its flags, one with none and one still open."""
    for n in range(first, first + epochs):
        CreditEpoch.objects.create(
            epoch=f"{2001 + n // 12}-{n % 12 + 1:02}",
            budget=0,
            rules="v1",
            opened_order=n,
            settled_order=3 * n,
            settlement={"flags": [_flag(n, index) for index in range(3)]},
        )
    if first == 0:
        CreditEpoch.objects.create(
            epoch="1999-01", budget=0, rules="v1", opened_order=0, settled_order=1, settlement={"flags": 4}
        )
        CreditEpoch.objects.create(epoch="1999-02", budget=0, rules="v1", opened_order=0, settled_order=2)
        CreditEpoch.objects.create(epoch="2099-01", budget=0, rules="v1", opened_order=0)  # not settled


def _every_flag() -> list[tuple[str, int, list[int]]]:
    rows = CreditEpoch.objects.filter(settled_order__gte=0).order_by("settled_order")
    return [
        (row.epoch, index, flag["evidence"])
        for row in rows
        for index, flag in enumerate(oversight.flags_of(row))
    ]


def _seen(flags) -> list[tuple[str, int, list[int]]]:
    return [(flag["epoch"], flag["index"], [item["order"] for item in flag["evidence"]]) for flag in flags]


def test_the_pages_together_are_every_flag_in_order(auditor) -> None:
    _settle(5)
    flags = selectors.flag_list_for(user=auditor)
    assert len(flags) == 15
    paginator = Paginator(flags, 4)
    pages = [flag for number in paginator.page_range for flag in paginator.page(number)]
    assert _seen(pages) == _every_flag()
    assert _seen(flags[2:9:3]) == _every_flag()[2:9:3]
    assert _seen([flags[-1], flags[0]]) == [_every_flag()[-1], _every_flag()[0]]
    with pytest.raises(IndexError):
        flags[15]
    one = selectors.flag_list_for(user=auditor, epoch="2001-02")
    assert _seen(one) == [flag for flag in _every_flag() if flag[0] == "2001-02"]
    assert selectors.flag_list_for(user=auditor, epoch="1999-01")[:] == []
    assert all(item["seq"] is None for flag in pages for item in flag["evidence"])


def test_a_page_builds_its_own_flags_only(client_for, auditor, monkeypatch) -> None:
    asked: list[int] = []
    seqs_of_orders = oversight.seqs_of_orders

    def spy(orders):
        orders = list(orders)
        asked.extend(orders)
        return seqs_of_orders(orders)

    monkeypatch.setattr(oversight, "seqs_of_orders", spy)
    client = client_for(auditor)

    def page_two() -> list[str]:
        client.get(FLAGS)  # fills what the process caches once
        asked.clear()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(FLAGS, {"page": 2, "page_size": 4})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == len(_every_flag())
        page = _every_flag()[4:8]  # the second epoch's last two flags, the third's first two
        assert _seen(body["results"]) == page
        assert sorted(asked) == sorted(order for _, _, evidence in page for order in evidence)
        return [query["sql"] for query in captured.captured_queries]

    _settle(3)
    few = page_two()
    _settle(21, first=3)
    many = page_two()
    assert len(many) == len(few), "\n".join(many)
    # the settlements read are those of the page's two epochs only
    loaded = [sql for sql in many if '"settlement" FROM' in sql]
    assert len(loaded) == 1 and " IN (" in loaded[0], loaded
