"""Credit invariants I1-I9 (CREDIT.md) over random event sequences, pure: entry documents shaped as the
services write them, applied through `engine.apply_entry` to a `MemoryState` (see credit_sim.py).

Hypothesis draws a list of actions; `run` interprets each one against the model (who is admitted, which
requests are undecided, which grants active...) so every entry is plausible, with time moving forward.
Entries the rules refuse are dropped like a rolled-back transaction.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.credit import engine, replay
from ledger.credit.engine import CODE_KINDS, POST_PENDING, POSTED, VOID_PENDING, Balance, Transfer
from ledger.credit.replay import MemoryState
from ledger.credit.rules import RULES_V1
from tests.ledger.credit.credit_sim import AUDITOR_USERS, CR, TIERS, UNDECIDED, Sim

RULE_VARIANTS = (
    dict(RULES_V1),
    {**RULES_V1, "trust_ramp_days": 0},
    {**RULES_V1, "epoch_budget_mcr": 1_200 * CR, "trust_ramp_days": 0},  # a pool that runs dry
    {
        **RULES_V1,
        "trust_ramp_days": 0,
        "ring_edge_min_mcr": 5 * CR,
        "reciprocity_min_mcr": 5 * CR,
        "fresh_min_mcr": 5 * CR,
    },
)
DURATIONS = (1, 7, 30, 31, 90, 400)
STEPS = (
    timedelta(0),
    timedelta(seconds=1),
    timedelta(seconds=30),
    timedelta(minutes=10),
    timedelta(hours=3),
    timedelta(days=1),
    timedelta(days=3),
    timedelta(days=7),
    timedelta(days=8),
)
WAITS = (timedelta(days=1), timedelta(days=7), timedelta(days=8), timedelta(days=31), timedelta(days=100))
ACTIONS = (
    ("admit", 3),
    ("affiliate", 2),
    ("dataset", 3),
    ("version", 4),
    ("request", 8),
    ("approve", 8),
    ("reject", 1),
    ("withdraw", 1),
    ("expire_request", 1),
    ("revoke", 2),
    ("expire_grant", 1),
    ("download", 14),
    ("release", 3),
    ("settle", 2),
    ("open", 3),
    ("rules", 1),
    ("resolve", 1),
    ("adjust", 2),
    ("wait", 2),
)
WEIGHTED = tuple(name for name, weight in ACTIONS for _ in range(weight))

action = st.tuples(
    st.sampled_from(range(len(WEIGHTED))),
    st.integers(0, 2**16),
    st.integers(0, 2**16),
    st.sampled_from(range(len(STEPS))),
)
scenario = st.fixed_dictionaries(
    {
        "rules": st.integers(0, len(RULE_VARIANTS) - 1),
        "early_members": st.integers(0, 2),  # admitted before any rules: facts only, no allowance
        "members": st.integers(2, 6),
        "actions": st.lists(action, min_size=30, max_size=150),
    }
)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pick(items, selector):
    items = list(items)
    return items[selector % len(items)] if items else None


def run(draw: dict) -> Sim:
    sim = Sim()
    for _ in range(draw["early_members"]):
        sim.admit()
    sim.publish_rules(RULE_VARIANTS[draw["rules"]])
    sim.open_epoch_now()
    for _ in range(draw["members"]):
        sim.admit()
    for index, member in enumerate(sim.members[:3]):
        dataset = sim.register_dataset(member, TIERS[index % 3])
        sim.add_version(dataset)
    for kind_index, a, b, dt in draw["actions"]:
        sim.advance(STEPS[dt])
        act(sim, WEIGHTED[kind_index], a, b)
    return sim


def act(sim: Sim, kind: str, a: int, b: int) -> None:
    members = sim.members
    undecided = [r for r in sim.requests.values() if r.state in UNDECIDED]
    granted = [r for r in sim.requests.values() if r.state == "granted"]
    if kind == "admit":
        sim.admit()
    elif kind == "affiliate" and len(members) > 1:
        sim.affiliate(pick(members, a), pick(members, b), by_officer=bool(a % 2))
    elif kind == "dataset" and members:
        dataset = sim.register_dataset(pick(members, a), TIERS[b % 3])
        if dataset is not None and b % 4:
            sim.add_version(dataset)
    elif kind == "version" and sim.datasets:
        dataset = pick(sorted(sim.datasets), a)
        known = sorted(sim.first_sha_group)
        sim.add_version(dataset, pick(known, b // 3) if b % 3 == 0 and known else None)  # a duplicate file
    elif kind == "request" and sim.datasets and members:
        sim.request_access(
            pick(members, a), pick(sorted(sim.datasets), b), DURATIONS[(a + b) % len(DURATIONS)]
        )
    elif kind == "approve" and undecided:
        sim.approve(pick(undecided, a))
    elif kind in {"reject", "withdraw", "expire_request"} and undecided:
        sim.close(
            pick(undecided, a),
            {"reject": "access.rejected", "withdraw": "access.withdrawn"}.get(kind, "access.expired"),
        )
    elif kind == "revoke" and granted:
        sim.revoke(pick(granted, a), by_owner=bool(b % 3))
    elif kind == "expire_grant" and granted:
        for request in granted:
            sim.expire_grant(request)
    elif kind == "download" and granted:
        active = [r for r in granted if sim.grant_active(r) and r.tier != "confidential"]
        for _ in range(1 + b % 3):
            if active:
                sim.download(pick(active, a))
    elif kind == "release":
        sim.release()
    elif kind == "settle":
        sim.settle()
    elif kind == "open":
        sim.open_epoch_now()
    elif kind == "rules":
        sim.publish_rules(RULE_VARIANTS[a % len(RULE_VARIANTS)])
    elif kind == "resolve":
        held = sim.held_mints()
        if held:
            sim.resolve_mint(pick(held, a), "release" if b % 2 else "forfeit")
    elif kind == "adjust" and members:
        amount = (5 * CR, -5 * CR, 100 * CR, -300 * CR, -(10**9))[b % 5]
        approvers = [AUDITOR_USERS[0], AUDITOR_USERS[1] if a % 7 else AUDITOR_USERS[0]]
        sim.adjust(pick(members, a), amount, approvers)
    elif kind == "wait":
        sim.advance(WAITS[a % len(WAITS)])
        sim.release()


# --- independent recomputation ------------------------------------------------------------------------------


def book(balances: dict[str, Balance], transfer: Transfer) -> None:
    """The balance columns a transfer changes, written out again apart from replay.memory_state._book."""
    debit, credit = balances[transfer.debit], balances[transfer.credit]
    amount = transfer.amount
    if transfer.flag == "pending":
        debit.debits_pending, credit.credits_pending = (
            debit.debits_pending + amount,
            credit.credits_pending + amount,
        )
    elif transfer.flag == POSTED:
        debit.debits_posted, credit.credits_posted = (
            debit.debits_posted + amount,
            credit.credits_posted + amount,
        )
    else:
        debit.debits_pending, credit.credits_pending = (
            debit.debits_pending - amount,
            credit.credits_pending - amount,
        )
        if transfer.flag == POST_PENDING:
            debit.debits_posted += amount
            credit.credits_posted += amount


def columns(balance: Balance) -> tuple[int, int, int, int]:
    return (balance.debits_posted, balance.credits_posted, balance.debits_pending, balance.credits_pending)


def unit_of(account: str) -> str:
    return account.split(":", 1)[0]


def sum_tree_root(leaves: list[tuple[str, int]]) -> tuple[bytes, int]:
    """The Merkle sum tree of sumtree.py's docstring, written out again (RFC 9162 split, sums in both)."""
    if not leaves:
        return hashlib.sha256(b"").digest(), 0
    if len(leaves) == 1:
        label, value = leaves[0]
        data = json.dumps({"account": label, "balance": value}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(b"\x00" + data.encode()).digest(), value
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    (left, left_sum), (right, right_sum) = sum_tree_root(leaves[:split]), sum_tree_root(leaves[split:])
    data = b"\x01" + left + left_sum.to_bytes(8, "big") + right + right_sum.to_bytes(8, "big")
    return hashlib.sha256(data).digest(), left_sum + right_sum


def nonzero(balances: dict[str, Balance]) -> dict[str, tuple[int, int, int, int]]:
    return {account: columns(b) for account, b in balances.items() if any(columns(b))}


# --- properties ---------------------------------------------------------------------------------------------


@PROPERTY
@given(scenario)
def test_i1_every_balance_is_the_sum_of_its_transfers(draw):
    """I1: the legs of each entry sum to zero per unit. A leg debits and credits one positive amount, so
    what can break it is a leg between accounts of two units, or stated in another unit than its accounts'
    (units are never mixed); and every balance is the sum of its legs."""
    sim = run(draw)
    recomputed: dict[str, Balance] = defaultdict(Balance)
    for step in sim.steps:
        for transfer in step.transfers:
            assert transfer.amount > 0
            assert unit_of(transfer.debit) == unit_of(transfer.credit) == transfer.unit, transfer
            book(recomputed, transfer)
        for account, stated in step.balances_after.items():  # the columns right after this entry
            assert stated == columns(recomputed[account]), (step.document["kind"], account)
    assert nonzero(sim.state.balances) == nonzero(recomputed)
    assert sim.state.transfers == [t for step in sim.steps for t in step.transfers]


@PROPERTY
@given(scenario)
def test_i2_balances_of_each_unit_sum_to_zero_after_every_entry(draw):
    sim = run(draw)
    balances: dict[str, Balance] = defaultdict(Balance)
    for step in sim.steps:
        for transfer in step.transfers:
            book(balances, transfer)
        posted, pending = Counter(), Counter()
        for account, balance in balances.items():
            posted[unit_of(account)] += balance.credits_posted - balance.debits_posted
            pending[unit_of(account)] += balance.credits_pending - balance.debits_pending
        assert all(value == 0 for value in posted.values()), (step.document["kind"], posted)
        assert all(value == 0 for value in pending.values()), (step.document["kind"], pending)
    for unit in ("CR", "PT"):
        accounts = [b for a, b in sim.state.balances.items() if unit_of(a) == unit]
        assert sum(b.posted for b in accounts) == 0
        assert sum(b.credits_pending - b.debits_pending for b in accounts) == 0


@PROPERTY
@given(scenario)
def test_i3_member_and_pool_accounts_never_go_negative(draw):
    sim = run(draw)
    balances: dict[str, Balance] = defaultdict(Balance)
    for step in sim.steps:
        for transfer in step.transfers:
            book(balances, transfer)
        for account, balance in balances.items():
            if engine.is_constrained(account):
                assert balance.credits_posted >= balance.debits_posted + balance.debits_pending, (
                    step.document["kind"],
                    account,
                    columns(balance),
                )
            assert min(columns(balance)) >= 0, (account, columns(balance))


@PROPERTY
@given(scenario)
def test_i4_transfer_ids_are_unique(draw):
    sim = run(draw)
    ids = [t.id for t in sim.state.transfers]
    assert len(ids) == len(set(ids))
    assert all(len(i) == 32 for i in ids)
    for step in sim.steps:
        for transfer in step.transfers:
            assert transfer.id == engine.transfer_id(step.leaf, transfer.rules, transfer.leg)


@PROPERTY
@given(scenario)
def test_i5_codes_fit_their_entries_and_credit_bearing_entries_have_their_transfers(draw):
    sim = run(draw)
    for step in sim.steps:
        kind, note = step.document["kind"], step.note
        codes = Counter(t.code for t in step.transfers)
        for transfer in step.transfers:
            assert kind in CODE_KINDS[transfer.code], (kind, transfer.code)
            assert transfer.entry == step.leaf and transfer.order == step.entry.order
        if kind == "epoch.opened":
            assert [(t.code, t.amount) for t in step.transfers] == [("epoch_budget", note["budget"])]
        # the first decision charges the fee (an open request's grant charges 0); the officer's grant does not
        charges = kind in {"access.approved", "access.granted"} and note.get("charges", True)
        if charges:
            fee_legs = [t for t in step.transfers if t.code == "fee"]
            assert sum(t.amount for t in fee_legs) == note["fee"], (kind, note, step.transfers)
            consortium = sum(t.amount for t in fee_legs if t.role == "consortium")
            assert consortium == note["fee"] * 1000 // 10000
            assert all(t.flag == "pending" for t in fee_legs)
            if kind == "access.granted":  # the consortium legs are posted with the grant
                assert sum(t.amount for t in step.transfers if t.code == "fee_post") == consortium
        elif kind in {"access.approved", "access.granted"}:
            assert codes["fee"] == 0
        if kind == "data.downloaded":
            use = [t.amount for t in step.transfers if t.code == "use"]
            assert sum(use) == note["points"], (note, step.transfers)
        if "closes" in note:  # every held leg of a request closed before its grant is voided
            assert not sim_unresolved_after(sim, step, f"request:{note['closes']}")
        if note.get("refund"):  # the owner's revocation within the window returns the whole fee
            ref = f"request:{note['revokes']}"
            assert not sim_unresolved_after(sim, step, ref)
            net = Counter()
            for transfer in sim.state.transfers:
                if (
                    transfer.ref == ref
                    and transfer.flag in {POSTED, POST_PENDING}
                    and transfer.order <= step.entry.order
                ):
                    net[transfer.debit] -= transfer.amount
                    net[transfer.credit] += transfer.amount
            assert all(value == 0 for value in net.values()), net
        elif "revokes" in note:
            assert not step.transfers
        if kind == "member.admitted":
            assert codes.keys() <= {"allowance"}


def sim_unresolved_after(sim: Sim, step, ref: str) -> list[Transfer]:
    """Pending transfers of `ref` written up to `step` and not resolved by then."""
    upto = [t for t in sim.state.transfers if t.order <= step.entry.order and t.ref == ref]
    resolved = {t.pending_id for t in upto if t.pending_id}
    return [t for t in upto if t.flag == "pending" and t.id not in resolved]


@PROPERTY
@given(scenario)
def test_i6_each_pending_transfer_is_resolved_at_most_once_and_as_it_was(draw):
    sim = run(draw)
    by_id = {t.id: t for t in sim.state.transfers}
    resolutions = Counter(t.pending_id for t in sim.state.transfers if t.pending_id)
    assert all(count == 1 for count in resolutions.values())
    for transfer in sim.state.transfers:
        if transfer.flag in {POST_PENDING, VOID_PENDING}:
            pending = by_id[transfer.pending_id]
            assert pending.flag == "pending" and pending.order <= transfer.order
            assert (pending.debit, pending.credit, pending.amount, pending.unit, pending.ref) == (
                transfer.debit,
                transfer.credit,
                transfer.amount,
                transfer.unit,
                transfer.ref,
            )
        else:
            assert not transfer.pending_id


@PROPERTY
@given(scenario)
def test_i7_no_provider_leg_stays_pending_past_its_window_after_a_release(draw):
    sim = run(draw)
    window = timedelta(days=RULES_V1["dispute_window_days"])
    releases = 0
    for step in sim.steps:
        if step.document["kind"] != "credit.released":
            continue
        releases += 1
        at = engine.to_us(_time(step))
        upto = [t for t in sim.state.transfers if t.order <= step.entry.order]
        resolved = {t.pending_id for t in upto if t.pending_id}
        for leg in upto:
            if leg.flag != "pending" or leg.role != "provider" or leg.id in resolved:
                continue
            request = sim.requests[int(leg.ref.split(":")[1])]
            if request.granted is not None and request.grant_state:
                granted = engine.to_us(request.granted)
                assert at - granted < window // timedelta(microseconds=1), (leg, request)


def _time(step):
    from ledger.canonical import parse_time

    return parse_time(step.document["time"])


@PROPERTY
@given(scenario, st.randoms(use_true_random=False))
def test_i8_replay_of_the_shuffled_documents_gives_the_same_transfers_and_balances(draw, rnd: random.Random):
    sim = run(draw)
    documents = [(step.seq, step.leaf, step.document) for step in sim.steps]
    rnd.shuffle(documents)
    result = replay.replay(documents)
    assert result.divergence is None
    assert result.entries == len(sim.steps)
    assert [t.as_dict() for t in result.transfers] == [t.as_dict() for t in sim.state.transfers]
    incremental = {a: columns(b) for a, b in sorted(sim.state.balances.items())}
    assert {a: tuple(v.values()) for a, v in result.balances().items()} == incremental


@PROPERTY
@given(scenario)
def test_i9_each_settlement_states_the_sum_tree_root_of_the_balances_its_transfers_give(draw):
    sim = run(draw)
    settled = [step for step in sim.steps if step.document["kind"] == "epoch.settled"]
    for step in settled:
        # The leaves: every member account a transfer touched before the settlement (even at 0), and the
        # accounts its posted mints credit; held (pending) mints are not in the tree. Balances are posted.
        posted: dict[str, int] = defaultdict(int)
        for transfer in sim.state.transfers:
            is_posted_mint = (
                transfer.order == step.entry.order and transfer.code == "mint" and transfer.flag == POSTED
            )
            if transfer.order >= step.entry.order and not is_posted_mint:
                continue
            moves = transfer.flag in {POSTED, POST_PENDING}  # a pending or voided leg moves nothing posted
            for account, sign in ((transfer.debit, -1), (transfer.credit, 1)):
                if account.startswith("CR:member:"):
                    posted[account] += sign * transfer.amount if moves else 0
        root, total = sum_tree_root(sorted(posted.items()))
        payload = step.document["payload"]
        assert (payload["balance_root"], payload["balance_total"]) == (root.hex(), total), step.seq


def test_the_generator_reaches_every_kind_of_event():
    """One long fixed scenario: the interpreter is not starved (guards against a silently weak generator)."""
    rnd = random.Random(22)
    draw = {
        "rules": 3,
        "early_members": 1,
        "members": 6,
        "actions": [
            (
                rnd.randrange(len(WEIGHTED)),
                rnd.randrange(2**16),
                rnd.randrange(2**16),
                rnd.randrange(len(STEPS)),
            )
            for _ in range(600)
        ],
    }
    sim = run(draw)
    kinds = Counter(step.document["kind"] for step in sim.steps)
    codes = Counter(t.code for t in sim.state.transfers)
    missing = sorted(set(engine.CREDIT_KINDS) - set(kinds))
    assert not missing, (missing, kinds)
    assert not sorted(set(CODE_KINDS) - set(codes)), codes


def test_a_refused_entry_can_leave_a_memory_state_half_changed_so_the_harness_snapshots():
    """MemoryState has no transactions: `_approved` records the first approval before `_charge_fee`
    refuses for lack of credit. Replay stops at the first refusal (and the database rolls back), so only a
    caller that goes on after a refusal would see it; the simulation applies each group to a snapshot."""
    sim = Sim()
    sim.publish_rules({**RULES_V1, "trust_ramp_days": 0})
    sim.open_epoch_now()
    owner, consumer = sim.admit(), sim.admit()
    dataset = sim.register_dataset(owner, "confidential")
    request = sim.request_access(consumer, dataset, 400)  # 14 periods x 50 CR > the 500 CR allowance
    before = sim.state
    assert not sim.approve(request)  # refused: the harness keeps the state it had
    assert sim.state is before and sim.state.request(request.request).first_approval_us == 0
    raw: MemoryState = before  # applied in place, as replay would
    document = sim.document(
        "access.approved",
        subject=("access_request", request.request),
        members=[owner, consumer],
        payload={**sim._request_payload(request, stage="steward"), "credit": {"order": sim.order}},
    )
    with pytest.raises(engine.InsufficientCredit):
        engine.apply_entry(raw, engine.Entry.from_document(document, "00" * 32))
    assert raw.request(request.request).first_approval_us  # half applied: the fact without its fee
