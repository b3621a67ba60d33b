"""The credit store: a download's reads in one statement answer as the questions asked one by one."""

from __future__ import annotations

import pytest

from exchange import services as exchange
from exchange.models import AccessRequest
from ledger.credit import engine, store
from ledger.credit.engine import Entry
from ledger.credit.services import affiliation_link
from ledger.credit.store import database_state
from tests.exchange.support import published, request_access
from tests.ledger.credit.support import activate, admit

# Elsewhere the preload reads nothing (the state asks its questions one by one): nothing to compare.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

UNKNOWN_MEMBER = 987_654  # never admitted: the default group, no facts


def _download(provider: int, consumer: int, dataset: int, sha256: str) -> Entry:
    payload = {
        "owner_member": provider,
        "grantee_member": consumer,
        "dataset": dataset,
        "version_sha256": sha256,
        "tier": "restricted",
    }
    return Entry("00" * 32, 10**12, "data.downloaded", 0, None, "grant", "1", (), payload)


def _answers(state: store.DatabaseState, entry: Entry) -> tuple[object, ...]:
    """Every question the rules ask the state about a download."""
    payload = entry.payload
    group = engine.group_of(state, payload["grantee_member"])
    current = state.current_epoch()
    return (
        state.rules_published(),
        current,
        engine.group_of(state, payload["owner_member"]),
        state.member(payload["owner_member"]),
        state.member(payload["grantee_member"]),
        state.first_registrant(payload["version_sha256"]),
        group,
        state.group_members(group),
        state.use_count(current.epoch if current is not None else "", payload["dataset"], group),
    )


def _check(entry: Entry, django_assert_num_queries) -> tuple[object, ...]:
    asked = _answers(store.DatabaseState(), entry)  # this also fills the process's cache of published rules
    preloaded = store.DatabaseState()
    preloaded.preload(entry)
    with django_assert_num_queries(0):
        assert _answers(preloaded, entry) == asked
    # a process that has not read these rules yet reads them, same answers
    database_state._rules_by_hashes.clear()
    cold = store.DatabaseState()
    cold.preload(entry)
    assert _answers(cold, entry) == asked
    return asked


def test_a_downloads_reads_in_one_statement_answer_as_the_questions_asked_one_by_one(
    officer, data_steward, member, other_member, other_analyst, django_assert_num_queries
):
    before = _check(_download(member.pk, other_member.pk, 1, "ab" * 32), django_assert_num_queries)
    assert before[:2] == ([], None)  # no rules, no epoch

    activate()
    admit(member, other_member)
    dataset = published(data_steward, tier="restricted")
    sha256 = dataset.versions.get().sha256
    request = request_access(other_analyst, dataset)
    exchange.access_request_approve(actor=data_steward, request=request)
    grant = AccessRequest.objects.get(pk=request.pk).grant
    _, _, _, handle = exchange.grant_download(actor=other_analyst, grant=grant)
    handle.close()

    used = _check(_download(member.pk, other_member.pk, dataset.pk, sha256), django_assert_num_queries)
    assert used[5] == f"m{member.pk}" and used[-1] == 1  # the first registrant, one credited use
    unknown = _check(_download(member.pk, UNKNOWN_MEMBER, dataset.pk, "cd" * 32), django_assert_num_queries)
    assert unknown[4:] == (
        None,
        None,
        f"m{UNKNOWN_MEMBER}",
        [engine.MemberFact(UNKNOWN_MEMBER, f"m{UNKNOWN_MEMBER}", 0)],
        0,
    )

    affiliation_link(actor=officer, member=other_member, parent=member)
    grouped = _check(_download(member.pk, other_member.pk, dataset.pk, sha256), django_assert_num_queries)
    assert [fact.member for fact in grouped[7]] == sorted([member.pk, other_member.pk])
