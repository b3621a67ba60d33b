"""Regressions found by the credit property tests (test_properties.py), each pinned by a small scenario."""

from __future__ import annotations

from datetime import timedelta

from ledger.credit import engine, replay, sumtree
from ledger.credit.rules import RULES_V1
from tests.ledger.credit.credit_sim import CR, Sim

TRUSTED = {**RULES_V1, "trust_ramp_days": 0}


def test_fee_legs_of_a_restricted_grant_cite_a_kind_allowed_for_their_code():
    """A restricted request is granted on its first decision (`access.granted`, no `access.approved`), so
    the fee legs cite `access.granted`: CODE_KINDS must allow it (I5)."""
    sim = Sim(strict=True)
    sim.publish_rules(TRUSTED)
    sim.open_epoch_now()
    owner, consumer = sim.admit(), sim.admit()
    dataset = sim.register_dataset(owner, "restricted")
    request = sim.request_access(consumer, dataset, 30)
    assert sim.approve(request)
    granted = sim.steps[-1]
    assert granted.document["kind"] == "access.granted"
    assert {t.code for t in granted.transfers} == {"fee", "fee_post"}
    assert all(granted.document["kind"] in engine.CODE_KINDS[t.code] for t in granted.transfers)


def test_an_epoch_with_uses_recorded_after_its_month_ended_can_still_be_settled():
    """The hourly roll settles an ended epoch minutes after midnight; a download in between belongs to the
    still-open epoch with a day after its end. Settlement refused such an epoch for good ("use N is not
    the same record in window_uses"), and so did every later attempt; likewise an epoch left open for
    more than the 90-day window."""
    for late in (timedelta(days=27, hours=15), timedelta(days=120)):
        sim = Sim(strict=True)
        sim.publish_rules(TRUSTED)
        sim.open_epoch_now()  # 2026-01
        owner, consumer = sim.admit(), sim.admit()
        dataset = sim.register_dataset(owner, "open")
        sim.add_version(dataset)
        request = sim.request_access(consumer, dataset, 400)
        assert sim.download(request) is not None
        sim.advance(late)  # 2026-02-01 00:00 and later: the January epoch is still open
        assert sim.download(request) is not None
        assert sim.state.uses[-1].epoch == "2026-01" and sim.state.uses[-1].credited
        step = sim.settle()
        assert step is not None
        assert step.document["payload"]["minted"] == 5 * CR + 5 * CR // 2


def test_a_mint_the_empty_pool_cannot_pay_adds_no_leaf_to_the_balance_root():
    """With the pool spent, a provider's mint is 0 and writes no transfer; the stated root still had a
    zero leaf for its (non-existent) available account, so the root rebuilt from the transfers (and every
    inclusion proof against it) did not match (I9)."""
    sim = Sim(strict=True)
    sim.publish_rules({**TRUSTED, "epoch_budget_mcr": 1_000 * CR})
    sim.open_epoch_now()
    owner, consumer = sim.admit(), sim.admit()  # two allowances empty the pool
    dataset = sim.register_dataset(owner, "open")
    sim.add_version(dataset)
    assert sim.download(sim.request_access(consumer, dataset, 30)) is not None
    step = sim.settle()
    assert not [t for t in step.transfers if t.code == "mint"]
    touched = sorted(
        {a for t in sim.state.transfers for a in (t.debit, t.credit) if a.startswith("CR:member:")}
    )
    leaves = [(account, sim.state.balance(account).posted) for account in touched]
    root, total = sumtree.root(leaves)
    assert (step.document["payload"]["balance_root"], step.document["payload"]["balance_total"]) == (
        root.hex(),
        total,
    )
    documents = [(s.seq, s.leaf, s.document) for s in sim.steps]
    assert replay.replay(documents).divergence is None
