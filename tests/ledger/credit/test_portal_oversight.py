"""The auditors' credit pages: the anti-gaming flags with their evidence and the held mints with their
resolution, as the API gives them (the same selectors and the same service), and a 404 for anyone else."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from ledger.credit.models import CreditTransfer
from ledger.models import LedgerEntry
from ledger.services import ledger_sequence
from tests.api.test_problems import assert_problem
from tests.exchange.support import as_user
from tests.ledger.credit.statement_support import settled_with_held_mint, settled_with_mint_held_twice

pytestmark = pytest.mark.django_db

FLAGS = "/credit/flags/"
HELD = "/credit/held-mints/"


def _resolve_url(epoch: str, member: int) -> str:
    return reverse("portal:credit-held-mint-resolve", args=[f"{epoch}:{member}"])


def test_the_flags_page_shows_each_flag_of_the_api_with_its_members_and_evidence(client_for, auditor):
    epoch, provider = settled_with_mint_held_twice()
    client = client_for(auditor)
    flags = client.get("/api/v1/credit/flags/", {"epoch": epoch}).json()["results"]
    assert {"ring", "fresh_cluster"} <= {flag["rule"] for flag in flags}
    page = client.get(FLAGS, {"epoch": epoch})
    assert page.status_code == 200
    html = page.content.decode()
    cards = re.findall(r'data-flag="([^"]+)"', html)
    assert cards == [f"{flag['epoch']}:{flag['index']}" for flag in flags]
    for flag in flags:
        card = html.split(f'data-flag="{flag["epoch"]}:{flag["index"]}"', 1)[1].split("</section>", 1)[0]
        assert f'<code class="muted">{flag["rule"]}</code>' in card
        evidence = [int(seq) for seq in re.findall(r'data-evidence="(\d+)"', card)]
        assert evidence == [item["seq"] for item in flag["evidence"]] != []
        for seq in evidence:
            assert f'href="/api/v1/ledger/entries/{seq}/"' in card
        for name, value in flag["metrics"].items():
            assert f'data-metric="{name}" value="{value}"' in card
        for group in flag["groups"]:
            assert f"<code>{group}</code>" in card
    ring = html.split('data-rule="ring"', 1)[1].split("</section>", 1)[0]
    # the provider's group is named by its member, linked to its statement of that epoch
    assert f'data-member="{provider.pk}"><bdi>{provider.legal_name}</bdi></a>' in ring
    assert "What the anti-gaming flags mean" in html
    # every epoch by default; an epoch never opened is a 404, as the API's 404 for what does not exist
    assert re.findall(r'data-flag="([^"]+)"', client.get(FLAGS).content.decode()) == cards
    assert client.get(FLAGS, {"epoch": "2001-01"}).status_code == 404


def test_flags_are_paginated_like_the_other_portal_lists(client_for, auditor, settings):
    from consortium import paging

    epoch, _ = settled_with_mint_held_twice()
    count = len(client_for(auditor).get("/api/v1/credit/flags/").json()["results"])
    assert count >= 2
    original = paging.PAGE_SIZE
    paging.PAGE_SIZE = 1
    try:
        html = client_for(auditor).get(FLAGS, {"epoch": epoch, "page": 2}).content.decode()
    finally:
        paging.PAGE_SIZE = original
    assert re.findall(r'data-flag="([^"]+)"', html) == [f"{epoch}:1"]
    assert f"Page 2 of {count}" in html and f"epoch={epoch}&amp;page=1" in html


def test_the_held_mints_page_lists_what_the_api_lists(client_for, auditor):
    epoch, provider = settled_with_held_mint()
    client = client_for(auditor)
    (held,) = client.get("/api/v1/credit/held-mints/").json()["results"]
    html = client.get(HELD).content.decode()
    assert re.findall(r'data-mint="([^"]+)"', html) == [held["id"]] == [f"{epoch}:{provider.pk}"]
    assert f'data-field="held" value="{held["amount"]}"' in html
    assert f"<bdi>{provider.legal_name}</bdi>" in html
    assert f'action="{_resolve_url(epoch, provider.pk)}#' in html
    assert 'name="reason"' in html and 'value="release"' in html and 'value="forfeit"' in html


def test_held_mints_wait_for_the_auditor_on_the_home_page(client_for, auditor, officer, data_steward):
    epoch, provider = settled_with_held_mint()
    home = client_for(auditor).get("/").content.decode()
    assert f'<a href="{HELD}"><strong data-waiting="1">1</strong> held mint waiting' in home
    for user in (officer, data_steward):  # an officer may not resolve it: nothing waits for them
        assert "held mint" not in client_for(user).get("/").content.decode()
    as_user(auditor).post(_resolve_url(epoch, provider.pk), {"decision": "release", "reason": "Checked."})
    # what the auditor may do still names the held mints' page; nothing waits there now
    assert "waiting for an audit" not in client_for(auditor).get("/").content.decode()


def test_an_auditor_releases_a_held_mint_through_the_service(client_for, auditor):
    epoch, provider = settled_with_held_mint()
    client = as_user(auditor)
    response = client.post(
        _resolve_url(epoch, provider.pk), {"decision": "release", "reason": "Known partners."}, follow=True
    )
    assert response.redirect_chain == [(HELD, 302)]
    html = response.content.decode()
    assert f"The mint of <bdi>{provider.legal_name}</bdi> in epoch {epoch} is released" in html
    assert "No mint is held" in html
    entry = LedgerEntry.objects.get(kind="audit.resolved")
    payload = json.loads(bytes(entry.canonical))["payload"]
    assert payload | {"credit": None} == {
        "credit": None,
        "mint": f"{epoch}:{provider.pk}",
        "epoch": epoch,
        "member": provider.pk,
        "decision": "release",
        "reason": "Known partners.",
    }
    assert entry.actor_user_id == auditor.pk
    ledger_sequence()
    assert CreditTransfer.objects.filter(code="mint_resolved").count() == 1
    assert client.get("/api/v1/credit/held-mints/").json()["results"] == []
    # resolved once: the same form again finds no held mint, as the API's 404 no_held_mint
    again = client.post(_resolve_url(epoch, provider.pk), {"decision": "forfeit", "reason": "Twice."})
    assert again.status_code == 404
    assert LedgerEntry.objects.filter(kind="audit.resolved").count() == 1


def test_a_mint_resolved_in_another_tab_says_who_resolved_it_on_the_held_mints_page(client_for, auditor):
    """Two tabs (or two auditors) on the same held mint: the second decision finds it resolved. It used to
    get the bare 'Not found' page, as if the address were wrong; now the held mints page, still 404 as the
    API's no_held_mint, says who released it and when, in the API's words, and nothing more is written."""
    epoch, provider = settled_with_held_mint()
    url = _resolve_url(epoch, provider.pk)
    first_tab, second_tab = as_user(auditor), as_user(auditor)
    assert first_tab.post(url, {"decision": "release", "reason": "Known partners."}).status_code == 302
    entry = LedgerEntry.objects.get(kind="audit.resolved")
    response = second_tab.post(url, {"decision": "forfeit", "reason": "Looks like a ring."})
    assert response.status_code == 404
    html = response.content.decode()
    assert "<title>Error: Held mints" in html
    said = (
        f"No mint of member {provider.pk} is held in epoch {epoch}: auditor released it on "
        f"{entry.accepted_at:%Y-%m-%d %H:%M} UTC (audit.resolved, leaf {bytes(entry.leaf_hash).hex()[:16]})."
    )
    assert said in html.split('<div class="error-summary" role="alert">', 1)[1].split("</div>", 1)[0]
    assert "No mint is held: nothing waits for an audit." in html
    api = client_for(auditor).post(
        f"/api/v1/credit/held-mints/{epoch}:{provider.pk}/resolve/",
        {"decision": "forfeit", "reason": "Looks like a ring."},
    )
    assert assert_problem(api, 404, "no_held_mint")["detail"] == said
    assert LedgerEntry.objects.filter(kind="audit.resolved").count() == 1


def test_a_mint_never_held_is_not_found_on_the_held_mints_page(auditor):
    epoch, provider = settled_with_held_mint()
    response = as_user(auditor).post(
        _resolve_url(epoch, provider.pk + 100), {"decision": "release", "reason": "x"}
    )
    assert response.status_code == 404
    assert f"No mint of member {provider.pk + 100} is held in epoch {epoch}." in response.content.decode()
    assert not LedgerEntry.objects.filter(kind="audit.resolved").exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"decision": "forfeit", "reason": "   "}, "reason", "Say why: the reason is recorded"),
        ({"decision": "forfeit"}, "reason", "Say why: the reason is recorded"),
        ({"reason": "Because."}, "decision", "This field is required."),
        ({"decision": "keep", "reason": "Because."}, "decision", "Select a valid choice."),
    ],
)
def test_a_refused_resolution_says_why_beside_the_field_and_writes_nothing(
    client_for, auditor, data, field, message
):
    epoch, provider = settled_with_held_mint()
    entries = LedgerEntry.objects.count()
    response = as_user(auditor).post(_resolve_url(epoch, provider.pk), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert html.startswith("<!doctype html>") and "<title>Error: Held mints" in html
    assert 'class="error-summary" role="alert"' in html
    field_id = f"id_{epoch}_{provider.pk}_{field}"
    errors = html.split(f'id="{field_id}_error"', 1)[1].split("</ul>", 1)[0]
    assert message in errors
    if field == "reason":
        assert f'href="#{field_id}"' in html and 'aria-invalid="true"' in html
    assert "Because." in html or field == "reason"  # the typed reason is kept
    assert LedgerEntry.objects.count() == entries
    assert len(client_for(auditor).get("/api/v1/credit/held-mints/").json()["results"]) == 1


def test_members_and_other_staff_get_404_for_the_auditors_pages(
    client_for, data_steward, member_admin, security_officer, auditor
):
    epoch, provider = settled_with_held_mint()
    for user in (data_steward, member_admin, security_officer):
        client = as_user(user)
        assert client.get(FLAGS).status_code == 404, user.username
        assert client.get(HELD).status_code == 404, user.username
        refused = client.post(_resolve_url(epoch, provider.pk), {"decision": "release", "reason": "Mine."})
        assert refused.status_code == 404, user.username
        home = client.get("/").content.decode()
        assert FLAGS not in home and HELD not in home
    assert not LedgerEntry.objects.filter(kind="audit.resolved").exists()
    assert client_for(None).get(FLAGS).status_code == 302  # to the login page
    assert client_for(auditor).get(HELD).status_code == 200


def test_an_officer_sees_the_held_mints_but_only_an_auditor_resolves_them(client_for, auditor, officer):
    """CREDIT.md: suspicion holds money pending; only an auditor forfeits it. Officers read credit as
    auditors do, but they run the epochs: neither the page, the API nor the service lets them resolve."""
    epoch, provider = settled_with_held_mint()
    mint = f"{epoch}:{provider.pk}"
    html = client_for(officer).get(HELD).content.decode()
    assert re.findall(r'data-mint="([^"]+)"', html) == [mint]
    assert 'name="decision"' not in html and "/resolve/" not in html
    assert "Only an auditor releases or forfeits a held mint." in html
    for decision in ("release", "forfeit"):
        page = as_user(officer).post(_resolve_url(epoch, provider.pk), {"decision": decision, "reason": "X."})
        assert page.status_code == 403
        api = client_for(officer).post(
            f"/api/v1/credit/held-mints/{mint}/resolve/", {"decision": decision, "reason": "X."}
        )
        assert api.status_code == 403 and api.json()["code"] == "permission_denied"
    assert not LedgerEntry.objects.filter(kind="audit.resolved").exists()
    assert CreditTransfer.objects.get(code="mint", ref=f"mint:{mint}").flag == "pending"
    assert 'name="decision"' in client_for(auditor).get(HELD).content.decode()


def test_the_credit_pages_link_each_other_for_auditors_only(client_for, auditor, officer, data_steward):
    settled_with_held_mint()
    for user in (auditor, officer):
        html = client_for(user).get("/credit/leaderboard/").content.decode()
        assert f'href="{FLAGS}"' in html and f'href="{HELD}"' in html
    html = client_for(data_steward).get("/credit/").content.decode()
    assert FLAGS not in html and HELD not in html


def test_the_flags_page_reads_the_rules_of_all_its_epochs_at_once(django_assert_num_queries):
    """The page explains each flag under its epoch's rules, read for all its epochs in two queries (one
    query per epoch before), with the same answers as one epoch's; an epoch never opened is left out."""
    from ledger.credit import selectors

    settled_with_mint_held_twice()
    names = selectors.epoch_names()
    one_by_one = {name: selectors.epoch_rules_params(name) for name in names}
    with django_assert_num_queries(2):
        together = selectors.epochs_rules_params([*names, "2001-01"])
    assert together == one_by_one


def test_a_refused_resolution_of_a_mint_not_on_the_first_page_still_says_why(client_for, auditor):
    """The form of a mint on page 2 posts back to page 2, and a mint not on the page shown gets its errors
    at the top: a 400 never comes back without saying what is wrong. A member id written otherwise than the
    page writes it (a leading zero) is no mint's."""
    from consortium import paging

    settled_with_mint_held_twice()
    held = [mint["id"] for mint in client_for(auditor).get("/api/v1/credit/held-mints/").json()["results"]]
    assert len(held) >= 2
    epoch, member = held[-1].split(":")
    client = as_user(auditor)
    blank = {"decision": "release", "reason": ""}
    url = reverse("portal:credit-held-mint-resolve", args=[held[-1]])
    original = paging.PAGE_SIZE
    paging.PAGE_SIZE = 1
    try:
        page = client.get(HELD, {"page": len(held)}).content.decode()
        on_its_page = client.post(f"{url}?page={len(held)}", blank)
        on_the_first = client.post(url, blank)
    finally:
        paging.PAGE_SIZE = original
    assert f'action="{url}?page={len(held)}#mint-' in page
    for response in (on_its_page, on_the_first):
        assert response.status_code == 400
        html = response.content.decode()
        assert 'class="error-summary" role="alert"' in html and "Say why: the reason is recorded" in html
    assert client.post(f"/credit/held-mints/{epoch}:0{member}/resolve/", blank).status_code == 404
    assert not LedgerEntry.objects.filter(kind="audit.resolved").exists()


def test_a_held_mint_of_thousands_of_digits_is_not_found(auditor) -> None:
    # The API's held mint reads the member with path_number (44f12dc); the page's int() raised past 4,300
    # digits, a 500.
    response = as_user(auditor).post(
        f"/credit/held-mints/2026-01:{'1' * 5000}/resolve/", {"decision": "release", "reason": "Checked."}
    )
    assert response.status_code == 404
    assert not LedgerEntry.objects.filter(kind="audit.resolved").exists()
