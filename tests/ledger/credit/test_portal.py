"""The portal's Credit page shows a member the numbers of its JSON statement; auditors get a leaderboard."""

from __future__ import annotations

import html as html_module
import re

import pytest
from django.utils.html import escape

from consortium.models import SizeClass
from ledger.credit import glossary, services
from ledger.credit.models import CreditEpoch
from ledger.services import ledger_sequence
from tests.ledger.credit.statement_support import settled_epoch
from tests.ledger.credit.support import TRUSTED_RULES

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
    proofs = [proof["balance"] for proof in statement["proof"]["accounts"]]
    assert _fields(html, "proof-balance") == proofs != []
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
    by_size = client_for(auditor).get("/credit/leaderboard/", {"by": "size_class"}).content.decode()
    assert '<th scope="col">Size class</th>' in by_size and ">Size class</option>" in by_size
    assert f"<td>{SizeClass(member.size_class).label}</td>" in by_size and "size_class<" not in by_size
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


def test_each_amount_is_shown_in_the_unit_of_its_account(epoch, client_for, data_steward):
    """Points accounts read in PT, credit accounts in CR: each row's unit decides, for balances and lines."""
    client = client_for(data_steward)
    statement = client.get(f"/api/v1/credit/statements/{epoch}/").json()
    html = client.get("/credit/").content.decode()

    def units(field: str) -> list[str]:
        return re.findall(rf'data-field="{field}" value="-?\d+" title="-?\d+ m(CR|PT)"', html)

    assert units("closing") == [row["unit"] for row in statement["closing"]]
    assert units("amount") == [line["unit"] for line in statement["lines"]]
    assert {"CR", "PT"} <= set(units("closing")) and {"CR", "PT"} <= set(units("amount"))


def test_an_auditor_picks_the_member_of_a_statement_by_name(epoch, client_for, auditor, member):
    html = client_for(auditor).get("/credit/", {"member": member.pk}).content.decode()
    assert f'<option value="{member.pk}" selected>{member.legal_name}</option>' in html


def test_the_statement_names_its_datasets_and_consumers_and_links_to_them(
    epoch, client_for, data_steward, other_member
):
    from exchange.models import Dataset

    dataset = Dataset.objects.get()
    statement = client_for(data_steward).get(f"/api/v1/credit/statements/{epoch}/").json()
    assert [d["title"] for d in statement["earned"]] == [dataset.title]
    assert {u["consumer_name"] for d in statement["earned"] for u in d["uses"]} == {other_member.legal_name}
    html = client_for(data_steward).get("/credit/").content.decode()
    assert f'<a href="/catalog/{dataset.pk}/"><bdi>{dataset.title}</bdi></a>' in html
    assert f'<a href="/members/{other_member.pk}/"><bdi>{other_member.legal_name}</bdi></a>' in html
    assert f"Dataset #{dataset.pk}" not in html and f"member {other_member.pk} (" not in html


def test_a_consumer_the_member_may_no_longer_see_stays_unnamed_but_an_auditor_sees_it(
    epoch, client_for, data_steward, auditor, member, other_member
):
    other_member.status = "suspended"  # the directory shows other members' people active members only
    other_member.save(update_fields=["status"])
    assert client_for(data_steward).get(f"/members/{other_member.pk}/").status_code == 404
    statement = client_for(data_steward).get(f"/api/v1/credit/statements/{epoch}/").json()
    assert {u["consumer_name"] for d in statement["earned"] for u in d["uses"]} == {None}
    html = client_for(data_steward).get("/credit/").content.decode()
    assert other_member.legal_name not in html and f"/members/{other_member.pk}/" not in html
    assert f"member {other_member.pk} " in html
    named = client_for(auditor).get("/credit/", {"member": member.pk}).content.decode()
    assert f'<a href="/members/{other_member.pk}/"><bdi>{other_member.legal_name}</bdi></a>' in named


def test_names_cost_one_query_each_however_many_lines(client_for, auditor, django_assert_max_num_queries):
    """Member a: one dataset, one consumer; member b: three datasets, three consumers, two uses each. Each
    statement reads the titles in one query and the consumers' names in one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import MemberFactory, UserFactory
    from tests.ledger.credit.statement_support import grant_and_download
    from tests.ledger.credit.support import activate, admit

    a, b, *consumers = MemberFactory.create_batch(5)
    activate()
    admit(a, b, *consumers)
    steward_a = UserFactory(member=a, member_role="data_steward")
    steward_b = UserFactory(member=b, member_role="data_steward")
    analysts = [UserFactory(member=m, member_role="analyst") for m in consumers]
    grant_and_download(steward_a, analysts[0], downloads=1, tier="open")
    for consumer in analysts[:3]:
        grant_and_download(steward_b, consumer, downloads=2, tier="open")
    epoch = CreditEpoch.objects.get().epoch
    services.credit_epoch_settle(epoch=epoch, early=True)
    ledger_sequence()
    client = client_for(auditor)
    for provider, datasets in ((a, 1), (b, 3)):
        with CaptureQueriesContext(connection) as queries:
            statement = client.get(f"/api/v1/credit/statements/{epoch}/", {"member": provider.pk}).json()
        assert len(statement["earned"]) == datasets and all(d["title"] for d in statement["earned"])
        assert all(u["consumer_name"] for d in statement["earned"] for u in d["uses"])
        sql = [query["sql"] for query in queries.captured_queries]
        assert len([q for q in sql if "dataset.registered" in q]) == 1
        names = [q for q in sql if 'FROM "consortium_member"' in q and '"legal_name"' in q]
        assert len(names) == 2  # the statement's own member, then every consumer at once
    # + the epochs, the latest settled, the member picker, the epoch's rules (its flags' words)
    with django_assert_max_num_queries(len(sql) + 4):
        page = client.get("/credit/", {"member": b.pk})
    assert len(re.findall(r'<a href="/members/\d+/">', page.content.decode())) == 6  # each use's consumer


def test_flags_are_explained_in_words_with_their_metrics_in_their_units(client_for, auditor):
    from tests.ledger.credit.statement_support import settled_with_mint_held_twice

    epoch, provider = settled_with_mint_held_twice()
    client = client_for(auditor)
    statement = client.get(f"/api/v1/credit/statements/{epoch}/", {"member": provider.pk}).json()
    html = client.get("/credit/", {"member": provider.pk}).content.decode()
    assert [flag["rule"] for flag in statement["flags"]][:2] == ["ring", "fresh_cluster"]
    for flag in statement["flags"]:
        card = html.split(f'data-rule="{flag["rule"]}"', 1)[1].split("</div>", 1)[0]
        assert escape(glossary.rule(flag["rule"], TRUSTED_RULES).detects) in card
        for name, value in flag["metrics"].items():
            label = escape(glossary.METRICS[name][0])
            assert f'{label}: <data data-metric="{name}" value="{value}"' in card, name
    ring = next(flag for flag in statement["flags"] if flag["rule"] == "ring")
    share = ring["metrics"]["inside_share_bps"]
    assert f">{share // 100}.{share % 100:02d}%</data>" in html  # a share reads as a percentage
    assert "What the anti-gaming flags mean" in html


def test_the_leaderboard_explains_its_columns_and_every_flag(epoch, client_for, auditor):
    html = client_for(auditor).get("/credit/leaderboard/").content.decode()
    for column in ("Raw points", "Damped points", "Minted", "Held"):
        assert f"<dt>{column}</dt>" in html
    for name, rule in glossary.rules(TRUSTED_RULES).items():
        assert f'<dt>{rule.label} <code class="muted">{name}</code></dt>' in html
        assert escape(rule.detects) in html and escape(rule.effect) in html


def test_each_epoch_s_flags_are_explained_with_the_rules_it_ran_under(
    client_for, auditor, data_steward, other_analyst, member, other_member
):
    """October runs under v1's thresholds, November under a rules change published during October: each
    epoch's statement and leaderboard state that epoch's, in the glossary and on the flag's card (a
    restricted request approved at once is a rubber stamp under both)."""
    from tests.ledger.credit.statement_support import grant_and_download
    from tests.ledger.credit.support import CHANGED_RULES, admit, clock, utc

    with clock(utc(2026, 10, 5, 9)) as now:
        services.credit_rules_publish(actor=None, params=TRUSTED_RULES)
        services.credit_epoch_open(epoch="2026-10")
        admit(member, other_member)
        grant_and_download(data_steward, other_analyst, downloads=1)
        services.credit_rules_publish(actor=None, params=CHANGED_RULES)  # from the next epoch
        now[0] = utc(2026, 11, 1, 0, 10)
        services.credit_epoch_roll()  # settles October, opens November under the change
        grant_and_download(data_steward, other_analyst, downloads=1)
        services.credit_epoch_settle(epoch="2026-11", early=True)
    ledger_sequence()
    v1 = (
        "within 90 days",
        "at least half the larger",
        "Three or more groups",
        "at least 60% of their points",
        "fewer than three consumers",
        "less than 90 days old",
        "more than 60%",
        "less than a minute",
        "three or more grants",
        "within 24 hours",
    )
    changed = (
        "within 30 days",
        "at least 75% of the larger",
        "Four or more groups",
        "at least 70.5% of their points",
        "fewer than one consumer outside",
        "At least 60% of a provider",
        "less than a day old",
        "more than half of",
        "less than 5 minutes",
        "12 or more grants",
        "within an hour",
    )
    pages = {
        "2026-10": (TRUSTED_RULES, v1, changed, "less than a minute"),
        "2026-11": (CHANGED_RULES, changed, v1, "less than 5 minutes"),
    }
    for epoch, (params, words, not_words, fast) in pages.items():
        statement = client_for(data_steward).get("/credit/", {"epoch": epoch}).content.decode()
        board = client_for(auditor).get("/credit/leaderboard/", {"epoch": epoch}).content.decode()
        for html in (statement, board):
            assert f"those of epoch <code>{epoch}</code>" in html
            assert [phrase for phrase in words if phrase not in html] == [], epoch
            assert [phrase for phrase in not_words if phrase in html] == [], epoch
            for name, rule in glossary.rules(params).items():
                assert f"<dd>{escape(rule.detects)} <em>" in html, name
        card = statement.split('data-rule="rubber_stamp"', 1)[1].split("</div>", 1)[0]
        assert escape(glossary.rule("rubber_stamp", params).detects) in card and fast in card


@pytest.mark.parametrize("text", ["²", "①", "١٢"])
def test_a_member_not_in_ascii_digits_names_no_member_and_is_no_server_error(
    epoch, client_for, auditor, text
):
    """`?member=` in digits other than 0-9 (str.isdigit takes them; int() refuses some and reads others in
    another script) names no member: the auditor is asked to pick one, as with text that is not a number."""
    client = client_for(auditor)
    client.raise_request_exception = False
    response = client.get("/credit/", {"member": text})
    assert response.status_code == 200

    def page(html: str) -> str:  # each page has its own CSRF token and Content-Security-Policy nonce
        return re.sub(r'value="[A-Za-z0-9]{64}"|nonce="[^"]+"', "", html)

    unnamed = client.get("/credit/", {"member": "abc"}).content.decode()
    assert page(response.content.decode()) == page(unnamed) and not re.search(
        r'<option value="\d+" selected>', unnamed
    )


def test_the_pages_csv_link_asks_for_the_spreadsheet_byte_order_mark(
    epoch, client_for, data_steward, auditor, member
):
    for user, query in ((data_steward, {}), (auditor, {"member": member.pk})):
        client = client_for(user)
        html = client.get("/credit/", query).content.decode()
        (link,) = re.findall(r'<a href="([^"]*/csv/[^"]*)"', html)
        url = html_module.unescape(link)
        assert "bom=true" in url
        download = client.get(url)
        assert download.status_code == 200
        assert b"".join(download.streaming_content).startswith(b"\xef\xbb\xbfepoch,member,")
