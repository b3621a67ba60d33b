"""Attack simulations end to end through the rules engine (pure, MemoryState): each gaming strategy of
CREDIT.md / issue 5 is played out with entry documents shaped as the services write them, and the rule's
effect is asserted on the transfers, balances and settlement."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.credit import engine
from ledger.credit.rules import RULES_V1
from tests.ledger.credit.credit_sim import CR, Sim

TRUSTED = {**RULES_V1, "trust_ramp_days": 0}  # every member trusted from day one
M = RULES_V1["damping_m_mcr"]
PAIR_CAP = RULES_V1["pair_cap_mcr"]


def start(members: int, params=None) -> tuple[Sim, list[int]]:
    sim = Sim(strict=True)
    sim.publish_rules(params or TRUSTED)
    assert sim.open_epoch_now()
    return sim, [sim.admit() for _ in range(members)]


def listing(sim: Sim, owner: int, tier: str = "open", sha: str | None = None) -> int:
    dataset = sim.register_dataset(owner, tier)
    sim.add_version(dataset, sha)
    return dataset


def use(sim: Sim, consumer: int, dataset: int, times: int = 1):
    """Request (an open request is granted at once; others approved by the steward) and download."""
    request = sim.request_access(consumer, dataset, 30)
    assert request is not None
    if request.state != "granted":
        assert sim.approve(request)
    steps = [sim.download(request) for _ in range(times)]
    assert all(step is not None for step in steps)
    return request, steps


def settle(sim: Sim):
    sim.advance(timedelta(days=40))  # past the month's end; the roll settles the ended epoch
    step = sim.settle()
    assert step is not None
    return step


def mints(step) -> dict[int, tuple[int, str]]:
    """member -> (amount, flag) of the mint legs an `epoch.settled` wrote."""
    return {int(t.leg.split(":")[1]): (t.amount, t.flag) for t in step.transfers if t.code == "mint"}


def points_of(sim: Sim, member: int) -> int:
    return sim.state.balance(engine.member_points(member)).posted


def test_affiliated_self_use_earns_no_points_and_pays_no_fee():
    sim, (provider, consumer, outsider) = start(3)
    assert sim.affiliate(consumer, provider)
    restricted = listing(sim, provider, "restricted")
    open_data = listing(sim, provider, "open")
    _, steps = use(sim, consumer, restricted, times=4)
    _, more = use(sim, consumer, open_data, times=4)
    assert all(not step.transfers for step in [*steps, *more])  # no points
    assert not [t for t in sim.state.transfers if t.code in {"fee", "use"}]  # no fee either
    assert {u.reason for u in sim.state.uses} == {"self_dealing"}
    assert sim.state.balance(engine.member_allowance(consumer)).spendable == 500 * CR
    # the same use by an outsider is credited: the rule is about the group, not the data
    _, outside = use(sim, outsider, restricted, times=1)
    assert [t.code for t in outside[0].transfers] == ["use"]
    step = settle(sim)
    assert set(mints(step)) == {provider}
    assert points_of(sim, provider) == 0  # closed with the epoch


@pytest.mark.parametrize("datasets", [1, 4, 30, 150])
def test_a_reciprocal_pair_earns_under_two_m_per_epoch_at_any_volume(datasets):
    sim, (a, b, _outsider) = start(3)
    a_data = [listing(sim, a) for _ in range(datasets)]
    b_data = [listing(sim, b) for _ in range(datasets)]
    for dataset in b_data:
        use(sim, a, dataset, times=4)
    for dataset in a_data:
        use(sim, b, dataset, times=4)
    raw = points_of(sim, a)
    assert raw == points_of(sim, b) > 0  # symmetric volumes
    step = settle(sim)
    minted = mints(step)
    total = sum(amount for amount, _ in minted.values())
    assert total < 2 * M, (datasets, raw, minted)
    assert all(amount <= raw for amount, _ in minted.values())
    if raw >= 4 * M:  # the damping bites: far below what the points alone would mint
        assert total < raw // 2


def test_a_four_member_ring_without_outside_consumers_has_its_mints_held():
    sim, ring = start(4)
    for index, provider in enumerate(ring):
        consumer = ring[(index + 1) % 4]  # each uses the next one's data: a -> b -> c -> d -> a
        for _ in range(8):  # 8 open datasets x (5 + 2.5 + 1.25 + 0.625) CR = 75 CR >= the 50 CR edge
            use(sim, consumer, listing(sim, provider), times=4)
    assert all(points_of(sim, member) >= RULES_V1["ring_edge_min_mcr"] for member in ring)
    step = settle(sim)
    minted = mints(step)
    assert set(minted) == set(ring)
    assert all(flag == "pending" and amount > 0 for amount, flag in minted.values()), minted
    assert step.document["payload"]["held"] == sum(amount for amount, _ in minted.values())
    epoch = sim.state.epoch(step.document["payload"]["epoch"])
    rings = [flag for flag in epoch.settlement["flags"] if flag["rule"] == "ring"]
    assert rings and set(rings[0]["covers"]) == {f"m{m}" for m in ring}
    assert all(sim.state.balance(engine.member_available(m)).posted == 0 for m in ring)
    # only an auditor resolves: one released, one forfeited back to the pool
    pool = sim.state.balance(engine.POOL).spendable
    released = sim.resolve_mint(f"mint:{epoch.epoch}:{ring[0]}", "release")
    forfeited = sim.resolve_mint(f"mint:{epoch.epoch}:{ring[1]}", "forfeit")
    assert released is not None and forfeited is not None
    assert sim.state.balance(engine.member_available(ring[0])).posted == minted[ring[0]][0]
    assert sim.state.balance(engine.member_available(ring[1])).posted == 0
    assert sim.state.balance(engine.POOL).spendable == pool + minted[ring[1]][0]


def test_the_same_ring_with_three_outside_consumers_is_not_held():
    sim, members = start(7)
    ring, outsiders = members[:4], members[4:]
    for index, provider in enumerate(ring):
        for _ in range(8):
            use(sim, ring[(index + 1) % 4], listing(sim, provider), times=4)
        for outsider in outsiders:  # real demand from outside the ring, for each ring member
            for _ in range(6):
                use(sim, outsider, listing(sim, provider), times=4)
    minted = mints(settle(sim))
    assert all(flag == "posted" for _, flag in minted.values()), minted


def test_one_consumer_of_a_thousand_open_listings_earns_the_provider_at_most_the_pair_cap():
    sim, (provider, consumer) = start(2)
    listing(sim, consumer)  # the consumer lists data too: not a fresh cluster, whose rule would hold the mint
    for _ in range(1000):
        use(sim, consumer, listing(sim, provider), times=1)
    assert points_of(sim, provider) == 1000 * 5 * CR  # 10 CR x open 1.0 x Q 0.5, first use each
    step = settle(sim)
    amount, flag = mints(step)[provider]
    assert amount <= PAIR_CAP and flag == "posted"
    assert sim.state.balance(engine.member_available(provider)).posted == amount
    epoch = sim.state.epoch(step.document["payload"]["epoch"])
    assert "concentration" in {flag["rule"] for flag in epoch.settlement["flags"]}


def test_fee_round_trips_lose_at_least_the_consortium_fee_per_hop():
    sim, (a, b) = start(2)
    a_data, b_data = listing(sim, a, "restricted"), listing(sim, b, "restricted")
    fee = RULES_V1["fee_restricted_mcr"]
    consortium = fee * RULES_V1["consortium_fee_bps"] // 10000
    accounts = [engine.member_allowance(a), engine.member_available(a)]
    accounts += [engine.member_allowance(b), engine.member_available(b)]

    def members_hold() -> int:  # posted and pending credits the two members could ever spend
        return sum(
            sim.state.balance(account).posted
            + sim.state.balance(account).credits_pending
            - sim.state.balance(account).debits_pending
            for account in accounts
        )

    start_total = members_hold()
    hops = 12
    for hop in range(hops):
        consumer, dataset = (a, b_data) if hop % 2 == 0 else (b, a_data)
        request = sim.request_access(consumer, dataset, 30)
        assert sim.approve(request)
        sim.advance(timedelta(days=8))  # past the dispute window: the provider's leg is posted
        assert sim.release() is not None
        sim.advance(timedelta(days=23))  # the grant ends; the next round trip may ask again
        assert sim.expire_grant(request)
        lost = start_total - members_hold()
        assert lost >= (hop + 1) * consortium, (hop, lost)
    assert start_total - members_hold() == hops * consortium
    assert sim.state.balance(engine.FEES).posted == hops * consortium
    assert not [t for t in sim.state.transfers if t.code == "fee" and sim.state.unresolved(t.ref)]


def test_a_duplicate_listing_earns_no_points():
    sim, (original, copier, consumer) = start(3)
    first = listing(sim, original)
    sha = sim.datasets[first]["versions"][-1]
    copy = listing(sim, copier, sha=sha)  # the same file, registered by another group afterwards
    _, copied = use(sim, consumer, copy, times=2)
    assert all(not step.transfers for step in copied)
    assert [u.reason for u in sim.state.uses] == ["duplicate_listing", "duplicate_listing"]
    _, genuine = use(sim, consumer, first, times=1)
    assert [t.code for t in genuine[0].transfers] == ["use"]
    minted = mints(settle(sim))
    assert set(minted) == {original}
