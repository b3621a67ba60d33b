"""Small scenarios that pin the credit engine: regressions found by the property tests (test_properties.py),
and rule boundaries the property tests do not reach (windows, who may be refunded, what D_k and R count)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.credit import engine, replay, sumtree
from ledger.credit.rules import RULES_V1
from tests.ledger.credit.credit_sim import AUDITOR_USERS, CR, Sim

TRUSTED = {**RULES_V1, "trust_ramp_days": 0}
AUDITOR = AUDITOR_USERS[0]


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


def _granted_restricted(sim: Sim, params: dict[str, int] | None = None):
    """An owner, a consumer and the consumer's granted restricted request (30 days: one fee period)."""
    sim.publish_rules(params or TRUSTED)
    sim.open_epoch_now()
    owner, consumer = sim.admit(), sim.admit()
    request = sim.request_access(consumer, sim.register_dataset(owner, "restricted"), 30)
    assert sim.approve(request)
    return owner, consumer, request


@pytest.mark.parametrize(
    ("by_owner", "after", "refunded"),
    [
        (True, timedelta(days=7), True),
        (True, timedelta(days=7, microseconds=1), False),
        (False, timedelta(hours=1), False),
    ],
)
def test_only_the_owner_revoking_within_seven_days_returns_the_fee(by_owner, after, refunded):
    sim = Sim(strict=True)
    owner, consumer, request = _granted_restricted(sim)
    sim.advance(after)
    assert sim.revoke(request, by_owner=by_owner)
    revoked = sim.steps[-1]
    allowance = sim.state.balance(engine.member_allowance(consumer)).spendable
    if refunded:
        assert sorted(t.code for t in revoked.transfers) == ["fee_refund", "fee_void"]
        assert allowance == 500 * CR
    else:
        assert revoked.transfers == []
        assert allowance == 480 * CR
        assert sim.state.balance(engine.member_available(owner)).credits_pending == 18 * CR


def test_the_daily_release_leaves_the_provider_leg_of_a_request_not_yet_granted_pending():
    """A confidential request holds its fee at the steward's approval; the dispute window starts only
    when the officer grants it."""
    sim = Sim(strict=True)
    sim.publish_rules(TRUSTED)
    sim.open_epoch_now()
    owner, consumer = sim.admit(), sim.admit()
    request = sim.request_access(consumer, sim.register_dataset(owner, "confidential"), 30)
    assert sim.approve(request) and request.state == "steward_approved"
    sim.advance(timedelta(days=8))
    assert sim.release().transfers == []
    assert sim.state.balance(engine.member_available(owner)).credits_pending == 45 * CR
    assert sim.approve(request) and request.state == "granted"
    sim.advance(timedelta(days=7))
    released = sim.release()
    assert [(t.code, t.role) for t in released.transfers] == [("fee_post", "provider")]


def test_the_consortium_fee_is_floored_and_the_provider_gets_the_rest():
    sim = Sim(strict=True)
    owner, _, _ = _granted_restricted(sim, {**TRUSTED, "fee_restricted_mcr": 12_345})
    assert sim.state.balance(engine.FEES).posted == 1_234  # 10% of 12.345 CR, floored
    assert sim.state.balance(engine.member_available(owner)).credits_pending == 11_111


def test_repeat_use_is_counted_per_consumer_group_not_per_member():
    """Diminishing returns D_k count one consumer group's uses of a dataset: a firm's affiliate
    downloading the same dataset is its second use, worth half."""
    sim = Sim(strict=True)
    sim.publish_rules(TRUSTED)
    sim.open_epoch_now()
    owner, head, affiliate = sim.admit(), sim.admit(), sim.admit()
    assert sim.affiliate(affiliate, head)
    dataset = sim.register_dataset(owner, "open")
    sim.add_version(dataset)
    first = sim.download(sim.request_access(head, dataset, 30))
    second = sim.download(sim.request_access(affiliate, dataset, 30))
    assert [first.transfers[0].amount, second.transfers[0].amount] == [5 * CR, 5 * CR // 2]
    assert sim.state.uses[-1].k == 2


def test_the_trust_ramp_counts_from_the_oldest_member_of_the_consumer_group():
    sim = Sim(strict=True)
    sim.publish_rules(RULES_V1)  # 90-day ramp
    owner, head = sim.admit(), sim.admit()
    sim.advance(timedelta(days=45))
    sim.open_epoch_now()
    newcomer = sim.admit()
    assert sim.affiliate(newcomer, head)
    dataset = sim.register_dataset(owner, "open")
    sim.add_version(dataset)
    used = sim.download(sim.request_access(newcomer, dataset, 30))
    assert used.transfers[0].amount == 5 * CR * 45 // 90  # the group is 45 days old, not 0
    assert sim.state.uses[-1].chain["age_days"] == 45


def test_a_member_admitted_again_gets_no_second_allowance():
    sim = Sim(strict=True)
    sim.publish_rules(TRUSTED)
    sim.open_epoch_now()
    member = sim.admit()
    again = sim.document(
        "member.admitted",
        subject=("member", member),
        members=[member],
        payload={"credit_code": f"91310000MA{member:08d}", "legal_name": "Readmitted Ltd"},
    )
    assert sim.submit(again)[0].transfers == []
    assert sim.state.balance(engine.member_allowance(member)).posted == 500 * CR


def test_a_grant_expiring_inside_the_dispute_window_leaves_its_fee_standing():
    """`access.expired` of a grant (not of an undecided request) voids nothing: the provider leg stays
    pending and the daily release posts it once the window has passed."""
    sim = Sim(strict=True)
    sim.publish_rules(TRUSTED)
    sim.open_epoch_now()
    owner, consumer = sim.admit(), sim.admit()
    request = sim.request_access(consumer, sim.register_dataset(owner, "restricted"), 1)
    assert sim.approve(request)
    sim.advance(timedelta(days=2))
    assert sim.expire_grant(request)
    assert sim.steps[-1].transfers == []
    assert sim.state.balance(engine.member_available(owner)).credits_pending == 18 * CR
    sim.advance(timedelta(days=5))
    sim.release()
    assert sim.state.balance(engine.member_available(owner)).posted == 18 * CR


def test_an_adjustment_approved_twice_by_one_person_is_refused_by_the_rules():
    sim = Sim()
    sim.publish_rules(TRUSTED)
    sim.open_epoch_now()
    member = sim.admit()
    assert sim.adjust(member, 1 * CR, [AUDITOR, AUDITOR]) is None
    assert sim.refused[-1][0] == "credit.adjusted"
    assert sim.adjust(member, 1 * CR, [AUDITOR, AUDITOR + 1]) is not None


@pytest.mark.parametrize(
    ("approvers", "reason", "why"),
    [
        ([AUDITOR, AUDITOR + 1], "", "needs a reason"),
        ([AUDITOR, AUDITOR + 1], "   ", "needs a reason"),
        ([AUDITOR, AUDITOR + 1], None, "needs a reason"),
        ([AUDITOR, str(AUDITOR)], "Correction.", "two different approvers"),
        ([AUDITOR, None], "Correction.", "two different approvers"),
    ],
)
def test_an_adjustment_without_a_reason_or_a_second_user_is_refused_by_the_rules(approvers, reason, why):
    """CREDIT.md: `credit.adjusted` carries two approvers and a reason. The service asks for both, and the
    rules check them too, so an entry written past the service (a forged or hand-made one) is named by the
    replay instead of replaying clean."""
    sim = Sim()
    sim.publish_rules(TRUSTED)
    sim.open_epoch_now()
    member = sim.admit()
    assert sim.adjust(member, 1 * CR, approvers, reason=reason) is None
    kind, message = sim.refused[-1]
    assert kind == "credit.adjusted" and why in message
    assert not [t for t in sim.state.transfers if t.code == "adjustment"]


def _flags(sim: Sim, epoch: str) -> list[dict]:
    return sim.state.epoch(epoch).settlement["flags"]


def test_a_use_that_earned_nothing_is_no_evidence_of_a_flag():
    """The fifth download of a dataset by one group earns 0 (D_5): settlement does not read it, so the
    concentration flag's evidence is the four downloads that earned the points."""
    sim = Sim(strict=True)
    sim.publish_rules({**TRUSTED, "concentration_min_mcr": 0})
    sim.open_epoch_now()
    owner, consumer = sim.admit(), sim.admit()
    dataset = sim.register_dataset(owner, "open")
    sim.add_version(dataset)
    request = sim.request_access(consumer, dataset, 30)
    downloads = [sim.download(request) for _ in range(5)]
    assert [d.transfers[0].amount if d.transfers else 0 for d in downloads] == [5000, 2500, 1250, 625, 0]
    sim.settle()
    [flag] = _flags(sim, "2026-01")
    assert flag["rule"] == "concentration"
    assert flag["evidence"] == [d.entry.order for d in downloads[:4]]


def test_reciprocity_reads_uses_from_the_first_day_of_its_ninety_day_window():
    """Settling March 2026 (window 1 January .. 31 March) counts a use of 1 January from an earlier epoch,
    and not one of 31 December."""
    sim = Sim(datetime(2025, 12, 31, 12, tzinfo=UTC), strict=True)
    sim.publish_rules({**TRUSTED, "reciprocity_min_mcr": 1 * CR})
    sim.open_epoch_now()
    a, b = sim.admit(), sim.admit()
    a_data, b_data, b_more = (sim.register_dataset(m, "open") for m in (a, b, b))
    for dataset in (a_data, b_data, b_more):
        sim.add_version(dataset)
    assert sim.download(sim.request_access(a, b_data, 120))  # 31 December: outside the window
    for month in (1, 2, 3):
        sim.now = datetime(2026, month, 1, 0, 30, tzinfo=UTC)
        sim.settle()
        sim.open_epoch_now()
        if month == 1:
            inside = sim.download(sim.request_access(a, b_more, 120))  # 1 January: the first day
    sim.advance(timedelta(days=9))
    back = sim.download(sim.request_access(b, a_data, 30))
    sim.now = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)
    sim.settle()
    [flag] = _flags(sim, "2026-03")
    assert flag["rule"] == "reciprocity"
    assert flag["metrics"] == {"points_ab": 5 * CR, "points_ba": 5 * CR, "ratio_bps": 10000}
    assert flag["evidence"] == [inside.entry.order, back.entry.order]


@pytest.mark.parametrize("head_admitted_early", [True, False])
def test_a_consumer_group_is_as_old_as_its_oldest_member_for_the_fresh_cluster_rule(head_admitted_early):
    sim = Sim(strict=True)
    sim.publish_rules({**TRUSTED, "fresh_min_mcr": 1 * CR})
    owner = sim.admit()
    head = sim.admit() if head_admitted_early else None
    sim.advance(timedelta(days=100))
    sim.open_epoch_now()  # 2026-04
    head = head or sim.admit()
    newcomer = sim.admit()
    assert sim.affiliate(newcomer, head)
    dataset = sim.register_dataset(owner, "open")
    sim.add_version(dataset)
    assert sim.download(sim.request_access(newcomer, dataset, 30))
    sim.settle()
    rules = [flag["rule"] for flag in _flags(sim, "2026-04")]
    assert rules == ([] if head_admitted_early else ["fresh_cluster"])


def test_the_worked_example_of_credit_md_gives_26_13_6_5_3_25_then_nothing():
    """CREDIT.md: restricted, s = 80, a one-year-old consumer: 26 CR, then 13, 6.5, 3.25, then nothing; the
    chain is what the statement prints."""
    made = [
        engine.use_points(RULES_V1, tier="restricted", quality=80, k=k, age_days=365) for k in range(1, 7)
    ]
    assert [points for _, points in made] == [26 * CR, 13 * CR, 6_500, 3_250, 0, 0]
    assert made[0][0] == {
        "base_mcr": 10 * CR,
        "tier_bps": 20_000,
        "quality_bps": 13_000,
        "repeat_bps": 10_000,
        "k": 1,
        "age_days": 90,
        "ramp_days": 90,
    }


@settings(max_examples=1000, deadline=None)
@given(
    tier=st.sampled_from(["open", "restricted", "confidential"]),
    quality=st.one_of(st.none(), st.integers(0, 100)),
    k=st.integers(1, 6),
    age_days=st.integers(0, 400),
    ramp=st.sampled_from([0, 1, 7, 90, 365]),
)
def test_usage_points_are_one_exact_product_floored_once(tier, quality, k, age_days, ramp):
    """u = BASE x T x Q x D_k x R in one integer chain with one floor (CREDIT.md principle 1): the exact
    rational product, floored, never a product of rounded factors."""
    params = {**RULES_V1, "trust_ramp_days": ramp}
    tiers = {"open": Fraction(1), "restricted": Fraction(2), "confidential": Fraction(3)}
    repeat = {1: Fraction(1), 2: Fraction(1, 2), 3: Fraction(1, 4), 4: Fraction(1, 8)}.get(k, Fraction(0))
    trust = min(Fraction(1), Fraction(age_days, ramp)) if ramp else Fraction(1)
    exact = 10 * CR * tiers[tier] * (Fraction(1, 2) + Fraction(quality or 0, 100)) * repeat * trust
    _, points = engine.use_points(params, tier=tier, quality=quality, k=k, age_days=age_days)
    assert points == math.floor(exact)
