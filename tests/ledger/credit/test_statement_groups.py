"""A statement's flags are the ones settlement applied to the member: the flags covering a group the member
earned under in the epoch (its uses' provider groups), not its group today. Its `group` is its group at the
end of the statement's period, so a closed statement does not change when the member is affiliated later."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ledger.credit import engine, services
from ledger.credit.models import CreditEpoch
from ledger.services import ledger_sequence
from tests.factories import MemberFactory
from tests.ledger.credit.statement_support import use_of
from tests.ledger.credit.support import activate, admit, record

pytestmark = pytest.mark.django_db

API = "/api/v1/credit"


def _fresh_cluster(provider: Any, fresh: list[Any], datasets: Any) -> None:
    """14 confidential first uses of 15 CR (210 CR) of `provider`'s data by two fresh groups: a fresh
    cluster on the provider's group, which holds its mint."""
    for index in range(14):
        consumer = fresh[index % 2].pk
        use_of(provider=provider.pk, consumer=consumer, dataset=next(datasets), tier="confidential")


def _link(client: Any, member: Any, parent: Any) -> None:
    response = client.post(f"{API}/affiliations/", {"member": member.pk, "parent": parent.pk})
    assert response.status_code == 201, response.content
    ledger_sequence()


def _settle() -> str:
    epoch = CreditEpoch.objects.get(settled_order=-1).epoch
    services.credit_epoch_settle(epoch=epoch, early=True)
    ledger_sequence()
    return epoch


def _statement(client: Any, epoch: str, member: Any) -> dict[str, Any]:
    response = client.get(f"{API}/statements/{epoch}/", {"member": member.pk})
    assert response.status_code == 200, response.content
    return response.json()


def _shown(statement: dict[str, Any]) -> list[tuple[str, list[str], int]]:
    return [(flag["rule"], flag["covers"], flag["held_mcr"]) for flag in statement["flags"]]


def test_a_mint_held_for_the_group_before_a_mid_epoch_affiliation_shows_its_flag(
    client_for, auditor, officer
):
    """P earns 210 CR from fresh groups under its own group (held), joins Q's group, earns once more."""
    provider, parent, *fresh = MemberFactory.create_batch(4)
    activate()
    admit(provider, parent, *fresh)
    datasets = iter(range(1, 100))
    _fresh_cluster(provider, fresh, datasets)
    _link(client_for(officer), provider, parent)
    use_of(provider=provider.pk, consumer=fresh[0].pk, dataset=next(datasets), tier="confidential")
    epoch = _settle()

    own, joined = engine.default_group(provider.pk), engine.default_group(parent.pk)
    settlement = CreditEpoch.objects.get(epoch=epoch).settlement
    assert [(f["rule"], f["covers"]) for f in settlement["flags"]] == [("fresh_cluster", [own])]
    client = client_for(auditor)
    statement = _statement(client, epoch, provider)
    amount = statement["mint"]["amount"]
    assert amount > 0 and statement["held_mcr"] == amount
    assert _shown(statement) == [("fresh_cluster", [own], amount)]  # was []: picked by today's group
    assert statement["group"] == joined
    assert statement["earned_groups"] == sorted([own, joined])

    html = client.get("/credit/", {"epoch": epoch, "member": provider.pk}).content.decode()
    assert re.findall(r'data-field="held" value="(\d+)"', html) == [str(amount)]
    assert f"group <code>{joined}</code>" in html and f"<code>{own}</code>" in html


def test_a_closed_statement_keeps_its_group_and_flags_when_the_member_is_affiliated_later(
    client_for, auditor, officer
):
    """Q's group is flagged (a fresh cluster); P, in its own group, earns a little and is not. After the
    settlement P joins Q's group: P's statement for the settled epoch does not change."""
    flagged, provider, *fresh = MemberFactory.create_batch(4)
    activate()
    admit(flagged, provider, *fresh)
    datasets = iter(range(1, 100))
    _fresh_cluster(flagged, fresh, datasets)
    use_of(provider=provider.pk, consumer=fresh[0].pk, dataset=next(datasets), tier="confidential")
    epoch = _settle()
    client = client_for(auditor)
    before = _statement(client, epoch, provider)
    own = engine.default_group(provider.pk)
    assert (before["group"], before["earned_groups"], before["flags"]) == (own, [own], [])
    assert before["mint"]["amount"] > 0 and before["held_mcr"] == 0

    _link(client_for(officer), provider, flagged)
    after = _statement(client, epoch, provider)
    assert after == before  # was: group m<Q>, and Q's fresh-cluster flag listed
    html = client.get("/credit/", {"epoch": epoch, "member": provider.pk}).content.decode()
    assert f"group <code>{own}</code>" in html and 'data-field="held"' not in html

    # the next epoch's statement is in the new group
    year, month = map(int, epoch.split("-"))
    services.credit_epoch_open(actor=None, epoch=f"{year + (month == 12):04d}-{month % 12 + 1:02d}")
    ledger_sequence()
    following = CreditEpoch.objects.get(settled_order=-1).epoch
    assert _statement(client, following, provider)["group"] == engine.default_group(flagged.pk)


def test_a_consumer_named_in_a_flag_is_not_shown_it(client_for, auditor):
    """A fresh cluster names its fresh consumer groups, but it concerns the provider's mint only: settlement
    applies it to the provider's group, and only the provider's statement lists it, even when the consumer
    earned something itself (one use of its data by the provider, 15 CR: no flag of its own)."""
    provider, *fresh = MemberFactory.create_batch(3)
    activate()
    admit(provider, *fresh)
    datasets = iter(range(1, 100))
    _fresh_cluster(provider, fresh, datasets)
    use_of(provider=fresh[0].pk, consumer=provider.pk, dataset=next(datasets), tier="confidential")
    epoch = _settle()
    client = client_for(auditor)
    (flag,) = CreditEpoch.objects.get(epoch=epoch).settlement["flags"]
    consumer_group = engine.default_group(fresh[0].pk)
    assert consumer_group in flag["groups"] and consumer_group not in flag["covers"]
    assert [rule for rule, _, _ in _shown(_statement(client, epoch, provider))] == ["fresh_cluster"]
    consumer = _statement(client, epoch, fresh[0])
    assert consumer["earned_groups"] == [consumer_group] and consumer["mint"]["amount"] > 0
    assert consumer["flags"] == []  # was: listed, holding 0


def test_a_duplicate_listing_is_shown_to_the_member_whose_downloads_earned_nothing(client_for, auditor):
    """Another group registered the file first: the member's downloads earn nothing (no use settlement
    reads), and the duplicate-listing flag covering its group is still on its statement."""
    provider, first, consumer = MemberFactory.create_batch(3)
    activate()
    admit(provider, first, consumer)
    record("dataset.version_added", "dataset", 7, [first.pk], {"sha256": f"{7:064x}"})
    use_of(provider=provider.pk, consumer=consumer.pk, dataset=7)
    epoch = _settle()
    statement = _statement(client_for(auditor), epoch, provider)
    assert (
        statement["earned_groups"] == []
        and statement["earned"][0]["uses"][0]["reason"] == "duplicate_listing"
    )
    assert _shown(statement) == [("duplicate_listing", [engine.default_group(provider.pk)], 0)]


def test_a_statement_reads_the_members_uses_once(
    auditor, data_steward, other_analyst, member, other_member, django_assert_num_queries
):
    """The uses it lists and the groups its flags are picked by (earned_groups) come from one read of the
    member's uses; they were read twice."""
    from ledger.credit.selectors import statement_for
    from tests.ledger.credit.statement_support import settled_epoch

    epoch = settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])
    with django_assert_num_queries(23) as captured:
        statement = statement_for(user=auditor, epoch=epoch, member=member.pk)
    assert len([q for q in captured.captured_queries if 'FROM "credit_credituse"' in q["sql"]]) == 1
    assert statement["earned_groups"] == [engine.default_group(member.pk)]
    assert [use["credited"] for dataset in statement["earned"] for use in dataset["uses"]] == [True] * 3
