"""The portal's Credit page shows a member the numbers of its JSON statement; auditors get a leaderboard."""

from __future__ import annotations

import re

import pytest

from tests.ledger.credit.statement_support import settled_epoch

pytestmark = pytest.mark.django_db


@pytest.fixture
def epoch(data_steward, other_analyst, member, other_member):
    return settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])


def _fields(html: str, name: str) -> list[int]:
    """The integers the page marks `name`: an amount's exact mCR or mPT value, or a number shown as is."""
    return [int(value) for value in re.findall(rf'data-field="{name}"(?: value="|>)(-?\d+)["<]', html)]


def test_the_credit_page_shows_the_same_numbers_as_the_json_statement(epoch, client_for, data_steward):
    client = client_for(data_steward)
    statement = client.get(f"/api/v1/credit/statements/{epoch}/").json()
    page = client.get("/credit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/credit/"' in html and 'aria-current="page">Credit' in html
    assert _fields(html, "opening") == [row["posted"] for row in statement["opening"]]
    assert _fields(html, "closing") == [row["posted"] for row in statement["closing"]]
    assert _fields(html, "use-points") == [use["points"] for d in statement["earned"] for use in d["uses"]]
    assert _fields(html, "amount") == [line["amount"] for line in statement["lines"]]
    assert _fields(html, "mint") == [statement["mint"]["amount"]]
    assert _fields(html, "rank") == [statement["rank"]["rank"]]
    assert _fields(html, "held") == [flag["held_mcr"] for flag in statement["flags"]]
    assert _fields(html, "settled_seq") == [statement["settled_seq"]]
    assert "Rebuilt from the transfers: it matches." in html
    assert "Leaderboard" not in html


def test_the_leaderboard_page_is_for_auditors(epoch, client_for, auditor, data_steward, member):
    page = client_for(auditor).get("/credit/leaderboard/", {"by": "member"})
    assert page.status_code == 200
    board = client_for(auditor).get(f"/api/v1/credit/leaderboard/{epoch}/").json()["results"]
    html = page.content.decode()
    assert _fields(html, "minted") == [row["minted"] for row in board]
    assert _fields(html, "damped") == [row["damped_points"] for row in board]
    assert client_for(data_steward).get("/credit/leaderboard/").status_code == 404
    assert client_for(auditor).get("/credit/leaderboard/", {"by": "height"}).status_code == 404
    named = client_for(auditor).get("/credit/", {"member": member.pk}).content.decode()
    assert _fields(named, "mint") == [board[0]["minted"]]


def test_the_credit_page_is_not_for_strangers(
    epoch, client_for, security_officer, data_steward, other_member
):
    assert client_for(None).get("/credit/").status_code == 302  # to the login page
    assert client_for(data_steward).get("/credit/", {"member": other_member.pk}).status_code == 404
    assert client_for(data_steward).get("/credit/", {"epoch": "2001-01"}).status_code == 404
    assert client_for(security_officer).get("/credit/").status_code == 404


def test_before_any_settlement_the_credit_page_is_still_only_for_who_may_read_credit(
    client_for, data_steward, member
):
    assert client_for(data_steward).get("/credit/").status_code == 200  # nothing settled yet: an empty page
    member.status = "suspended"
    member.save(update_fields=["status"])
    assert client_for(data_steward).get("/credit/").status_code == 404


def test_the_credit_link_shows_exactly_for_who_may_open_the_page(
    client_for, data_steward, auditor, security_officer, member
):
    def links_to_credit(user) -> bool:
        return 'href="/credit/"' in client_for(user).get("/").content.decode()

    for user in (data_steward, auditor, security_officer):
        opens = client_for(user).get("/credit/").status_code == 200
        assert links_to_credit(user) is opens, user.username
    assert links_to_credit(data_steward) and not links_to_credit(security_officer)
    member.status = "suspended"
    member.save(update_fields=["status"])
    assert not links_to_credit(data_steward)


def test_amounts_read_as_credits_with_the_exact_milli_credits_kept(epoch, client_for, data_steward):
    statement = client_for(data_steward).get(f"/api/v1/credit/statements/{epoch}/").json()
    html = client_for(data_steward).get("/credit/").content.decode()
    mint = statement["mint"]["amount"]
    whole, milli = divmod(mint, 1000)
    assert f'value="{mint}" title="{mint} mCR">{whole:,}.{milli:03d} CR</data>' in html
    assert "Available credit" in html and "Usage points" in html  # accounts in words, codes beside them


def test_an_auditor_picks_the_member_of_a_statement_by_name(epoch, client_for, auditor, member):
    html = client_for(auditor).get("/credit/", {"member": member.pk}).content.decode()
    assert f'<option value="{member.pk}" selected>{member.legal_name}</option>' in html
