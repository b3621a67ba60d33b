"""Permission-checked reads of credit: balances, statements, the leaderboard, flags, totals, transfers.

Members see their own member's accounts and statements; auditors and officers (Capability.AUDIT) see
everything. What the actor may not see is NotFound (404), never forbidden: a member asking for another
member's statement, or anyone but an auditor asking for the leaderboard, gets the same answer as for
something that does not exist.

Ledger sequence numbers: a transfer's ``entry`` is the ledger entry that caused it; its sequence number
is that entry's leaf (null while the entry waits for the sequencer). Flags and uses name credit orders;
they are mapped to sequence numbers through the transfers and uses of that order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import F, Q, QuerySet, Sum

from consortium.errors import NotFound, ValidationFailed
from consortium.models import Member
from consortium.roles import Capability, can
from ledger.credit import engine, settlement, statements, sumtree
from ledger.credit.models import (
    CreditAccount,
    CreditAdjustment,
    CreditEpoch,
    CreditMember,
    CreditRules,
    CreditTransfer,
    CreditUse,
)
from ledger.models import LedgerEntry

LEADERBOARD_GROUPINGS = ("member", "sector", "size_class")


def is_auditor(user: Any, api_key: Any = None) -> bool:
    """Auditors and officers read all credit data."""
    return can(user, Capability.AUDIT, api_key)


def _require_auditor(user: Any, api_key: Any, what: str) -> None:
    if not is_auditor(user, api_key):
        raise NotFound(f"No {what} that you may see.")


def _own_member(user: Any, api_key: Any) -> int:
    if user.member_id is None or not can(user, Capability.VIEW_OWN_MEMBER, api_key):
        raise NotFound("No credit statement that you may see.")
    return int(user.member_id)


def member_account_q(member: int, *, field: str = "account") -> Q:
    """The accounts of one member (its CR accounts by prefix, its points account exactly)."""
    return Q(**{f"{field}__startswith": f"CR:member:{member}:"}) | Q(**{field: f"PT:member:{member}"})


# --- balances -----------------------------------------------------------------------------------------------


def balance_list_for(*, user: Any, api_key: Any = None) -> QuerySet[CreditAccount]:
    """Accounts with their running balances: the caller's member's accounts, or every account for
    auditors. Someone with neither (a security officer) sees none."""
    accounts = CreditAccount.objects.order_by("account")
    if is_auditor(user, api_key):
        return accounts
    try:
        member = _own_member(user, api_key)
    except NotFound:
        return accounts.none()
    return accounts.filter(member_account_q(member))


def _balances_as_of(
    order: int, *, accounts: tuple[str, ...] | None = None, prefix: str | None = None
) -> dict[str, statements.Totals]:
    """Balances after the transfers with credit order <= `order`, of the named `accounts` or of those
    starting with `prefix` (two grouped queries, one per side)."""
    rows = CreditTransfer.objects.filter(order__lte=order)
    sums = []
    for side in ("debit", "credit"):
        scoped = rows
        if accounts is not None:
            scoped = scoped.filter(**{f"{side}__in": accounts})
        if prefix is not None:
            scoped = scoped.filter(**{f"{side}__startswith": prefix})
        grouped = scoped.values(side, "flag").annotate(total=Sum("amount")).order_by()
        sums.append([(row[side], row["flag"], row["total"]) for row in grouped])
    return statements.fold_balances(sums[0], sums[1])


# --- sequence numbers ---------------------------------------------------------------------------------------


def _seqs_of_leaves(leaves: Iterable[str]) -> dict[str, int | None]:
    """Ledger sequence numbers of entries by leaf hash (hex)."""
    wanted = {bytes.fromhex(leaf) for leaf in leaves if leaf}
    if not wanted:
        return {}
    rows = LedgerEntry.objects.filter(leaf_hash__in=wanted).values_list("leaf_hash", "leaf__seq")
    return {bytes(leaf).hex(): seq for leaf, seq in rows}


def seqs_of_orders(orders: Iterable[int]) -> dict[int, int | None]:
    """Credit order -> ledger sequence number of the entry that took it, through its transfers or its use
    (None when neither exists or the entry is not sequenced yet)."""
    wanted = set(orders)
    found: dict[int, int | None] = dict(
        CreditTransfer.objects.filter(order__in=wanted).values_list("order", "entry__leaf__seq").distinct()
    )
    missing = wanted - found.keys()
    if missing:
        leaves = dict(CreditUse.objects.filter(order__in=missing).values_list("order", "entry_leaf"))
        seqs = _seqs_of_leaves(leaves.values())
        found.update({order: seqs.get(leaf) for order, leaf in leaves.items()})
    return {order: found.get(order) for order in wanted}


# --- epochs -------------------------------------------------------------------------------------------------


def _epoch(epoch: str) -> CreditEpoch:
    row = CreditEpoch.objects.filter(epoch=epoch).first()
    if row is None:
        raise NotFound(f"No credit epoch {epoch}.", code="no_epoch")
    return row


def _settled_epoch(epoch: str) -> CreditEpoch:
    row = _epoch(epoch)
    if row.settled_order < 0:
        raise NotFound(f"Epoch {epoch} is not settled yet.", code="epoch_not_settled")
    return row


def latest_settled_epoch() -> str | None:
    """The most recently settled epoch's name, None before any settlement."""
    return (
        CreditEpoch.objects.filter(settled_order__gte=0)
        .order_by("-settled_order")
        .values_list("epoch", flat=True)
        .first()
    )


def epoch_names() -> list[str]:
    """Every epoch's name, newest first."""
    return list(CreditEpoch.objects.order_by("-opened_order").values_list("epoch", flat=True))


def _settled_entry(epoch: str) -> LedgerEntry | None:
    return (
        LedgerEntry.objects.filter(kind="epoch.settled", subject_type="epoch", subject_id=epoch)
        .select_related("leaf")
        .first()
    )


# --- leaderboard --------------------------------------------------------------------------------------------


def _member_results(row: CreditEpoch) -> dict[int, dict[str, Any]]:
    """Per provider member of a settled epoch: raw and damped points, minted amount, held or not, and the
    mint's sequence numbers. Minted and held come from the mint transfers; damped points from the rules'
    own settlement over the epoch's credited uses (pair damping reads only those and the parameters)."""
    uses = CreditUse.objects.filter(epoch=row.epoch, credited=True, points__gt=0).order_by("order")
    credited = [
        settlement.CreditedUse(
            seq=use.order,
            day=use.day,
            provider_member=use.provider_member,
            provider_group=use.provider_group,
            consumer_group=use.consumer_group,
            points=use.points,
        )
        for use in uses
    ]
    params = CreditRules.objects.get(hash=row.rules).params
    end_day = engine.epoch_end_day(row.epoch)
    groups = {use.provider_group for use in credited} | {use.consumer_group for use in credited}
    result = settlement.settle(
        settlement.SettlementInput(
            epoch=row.epoch,
            end_day=end_day,
            budget=row.budget,
            params=params,
            uses=credited,
            window_uses=credited,
            grants=[],
            groups={g: settlement.GroupFact(group=g, created_day=0, lists_anything=True) for g in groups},
        )
    )
    results: dict[int, dict[str, Any]] = {
        mint.member: {
            "member": mint.member,
            "group": mint.group,
            "raw_points": mint.raw_points,
            "damped_points": mint.damped_points,
            "minted": 0,
            "held": False,
            "state": "",
            "seq": None,
            "resolved_seq": None,
        }
        for mint in result.mints
    }
    mints = list(
        CreditTransfer.objects.filter(code="mint", ref__startswith=f"mint:{row.epoch}:")
        .annotate(seq=F("entry__leaf__seq"))
        .values("id", "flag", "credit", "amount", "seq")
    )
    resolutions = _resolutions([mint["id"] for mint in mints if mint["flag"] == statements.PENDING])
    for mint in mints:
        member, _, _ = statements.account_parts(mint["credit"])
        if member is None:
            continue
        entry = results.setdefault(
            member,
            {"member": member, "group": "", "raw_points": 0, "damped_points": 0},
        )
        resolution = resolutions.get(mint["id"])
        entry.update(
            minted=mint["amount"],
            held=mint["flag"] == statements.PENDING,
            state=statements.state_of(mint, resolutions),
            seq=mint["seq"],
            resolved_seq=resolution["seq"] if resolution else None,
        )
    return results


def _resolutions(pending_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The post or void row of each pending transfer that has one, by the pending transfer's id."""
    if not pending_ids:
        return {}
    rows = (
        CreditTransfer.objects.filter(pending_id__in=pending_ids)
        .annotate(seq=F("entry__leaf__seq"))
        .values("pending_id", "flag", "seq", "order")
    )
    return {row["pending_id"]: row for row in rows}


def leaderboard_for(
    *, user: Any, epoch: str, by: str = "member", api_key: Any = None
) -> list[dict[str, Any]]:
    """The consortium leaderboard of a settled epoch for auditors: minted credit and damped points by
    member, sector or size class, ranked (statements.ranked). NotFound for others and for an epoch not
    settled; ValidationFailed(bad_grouping) for another `by`."""
    _require_auditor(user, api_key, "leaderboard")
    if by not in LEADERBOARD_GROUPINGS:
        raise ValidationFailed(
            f"Group by one of {', '.join(LEADERBOARD_GROUPINGS)}.",
            code="bad_grouping",
            errors={"by": [f"one of {', '.join(LEADERBOARD_GROUPINGS)}"]},
        )
    return _leaderboard(_settled_epoch(epoch), by)


def _leaderboard(row: CreditEpoch, by: str) -> list[dict[str, Any]]:
    results = _member_results(row)
    members = {
        member["id"]: member
        for member in Member.objects.filter(pk__in=results).values("id", "legal_name", "sector", "size_class")
    }
    if by == "member":
        rows = [
            {
                "key": str(member),
                "label": members.get(member, {}).get("legal_name", ""),
                "members": 1,
                "minted": result["minted"],
                "held": result["minted"] if result["held"] else 0,
                "raw_points": result["raw_points"],
                "damped_points": result["damped_points"],
                "member": member,
                "seq": result["seq"],
            }
            for member, result in results.items()
        ]
        return statements.ranked(rows)
    grouped: dict[str, dict[str, Any]] = {}
    for member, result in results.items():
        key = members.get(member, {}).get(by, "") or "unknown"
        entry = grouped.setdefault(
            key,
            {
                "key": key,
                "label": key,
                "members": 0,
                "minted": 0,
                "held": 0,
                "raw_points": 0,
                "damped_points": 0,
                "member": None,
                "seq": None,
            },
        )
        entry["members"] += 1
        entry["minted"] += result["minted"]
        entry["held"] += result["minted"] if result["held"] else 0
        entry["raw_points"] += result["raw_points"]
        entry["damped_points"] += result["damped_points"]
    return statements.ranked(grouped.values())


# --- flags --------------------------------------------------------------------------------------------------


def _flags_of(row: CreditEpoch) -> list[dict[str, Any]]:
    """The flags a settled epoch recorded (a settlement recorded before the flag list was kept in full
    holds only their count: none can be shown)."""
    flags = row.settlement.get("flags", [])
    return flags if isinstance(flags, list) else []


def _flag_rows(row: CreditEpoch, flags: list[dict[str, Any]], seqs: dict[int, int | None]) -> list[dict]:
    return [
        {
            "epoch": row.epoch,
            "index": index,
            "rule": flag["rule"],
            "groups": flag["groups"],
            "covers": flag["covers"],
            "holds_mint": flag["holds_mint"],
            "metrics": flag["metrics"],
            "evidence": [{"order": order, "seq": seqs.get(order)} for order in flag["evidence"]],
        }
        for index, flag in enumerate(flags)
    ]


def flag_list_for(*, user: Any, epoch: str | None = None, api_key: Any = None) -> list[dict[str, Any]]:
    """Anti-gaming flags of settled epochs (one epoch, or all, oldest first) with their metrics and
    evidence as credit orders and ledger sequence numbers. NotFound for anyone but auditors."""
    _require_auditor(user, api_key, "flags")
    epochs = CreditEpoch.objects.filter(settled_order__gte=0).order_by("settled_order")
    if epoch:
        epochs = epochs.filter(epoch=epoch)
    rows = list(epochs)
    orders = {order for row in rows for flag in _flags_of(row) for order in flag["evidence"]}
    seqs = seqs_of_orders(orders)
    return [flag for row in rows for flag in _flag_rows(row, _flags_of(row), seqs)]


# --- statement ----------------------------------------------------------------------------------------------


def statement_for(*, user: Any, epoch: str, member: int | None = None, api_key: Any = None) -> dict[str, Any]:
    """A member's contribution statement for an epoch (see ledger.credit.statements for the numbers).

    Members get their own (another `member` is NotFound); auditors name any member. The epoch runs from its
    `epoch.opened` order to its `epoch.settled` order (or to now while open): the opening balances are
    those before it opened, the closing balances those after its settlement. NotFound for an unknown epoch
    or member."""
    if is_auditor(user, api_key):
        if member is None:
            raise ValidationFailed(
                "Name the member whose statement you want.",
                code="member_required",
                errors={"member": ["required for auditors"]},
            )
    else:
        own = _own_member(user, api_key)
        if member is not None and member != own:
            raise NotFound("No credit statement that you may see.")
        member = own
    subject = Member.objects.filter(pk=member).values("id", "legal_name", "sector", "size_class").first()
    if subject is None:
        raise NotFound("No such member.")
    row = _epoch(epoch)
    return _statement(row, subject)


def _statement(row: CreditEpoch, subject: dict[str, Any]) -> dict[str, Any]:
    member = subject["id"]
    accounts = statements.member_accounts(member)
    settled = row.settled_order >= 0
    mine = Q(debit__in=accounts) | Q(credit__in=accounts)
    opening = _balances_as_of(row.opened_order - 1, accounts=accounts)
    in_epoch = CreditTransfer.objects.filter(mine, order__gte=row.opened_order)
    if settled:
        closing = _balances_as_of(row.settled_order, accounts=accounts)
        in_epoch = in_epoch.filter(order__lte=row.settled_order)
    else:
        closing = _balances_as_of(2**62, accounts=accounts)
    transfers = list(
        in_epoch.annotate(seq=F("entry__leaf__seq"))
        .order_by("order", "leg")
        .values(
            "id", "order", "leg", "flag", "debit", "credit", "amount", "unit", "code", "ref", "role", "seq"
        )
    )
    resolutions = _resolutions([t["id"] for t in transfers if t["flag"] == statements.PENDING])
    lines = [_line(transfer, accounts, resolutions) for transfer in transfers]
    settled_entry = _settled_entry(row.epoch) if settled else None
    group = _member_group(row, member)
    results = _member_results(row) if settled else {}
    mine_result = results.get(member)
    flags = _member_flags(row, {group} | ({mine_result["group"]} if mine_result else set()), mine_result)
    ranking = _rank(results, member) if settled else None
    return {
        "epoch": row.epoch,
        "member": subject,
        "group": group,
        "settled": settled,
        "opened_seq": seqs_of_orders([row.opened_order]).get(row.opened_order),
        "settled_seq": _entry_seq(settled_entry),
        "opening": _balance_rows(accounts, opening),
        "closing": _balance_rows(accounts, closing),
        "earned": _earned(row.epoch, member),
        "mint": _mint_line(lines),
        "fees_earned": [line for line in lines if line["section"] == "fee_earned"],
        "fees_spent": [line for line in lines if line["section"] == "fee_spent"],
        "refunds": [line for line in lines if line["section"] == "refund"],
        "adjustments": [line for line in lines if line["section"] == "adjustment"],
        "allowance": [line for line in lines if line["section"] == "allowance"],
        "lines": lines,
        "flags": flags,
        "rank": ranking,
        "proof": _proof(row, settled_entry, accounts) if settled else None,
    }


def _entry_seq(entry: LedgerEntry | None) -> int | None:
    leaf = getattr(entry, "leaf", None) if entry is not None else None
    return leaf.seq if leaf is not None else None


SECTIONS = {
    "fee": "fee",
    "fee_post": "fee_resolved",
    "fee_void": "fee_resolved",
    "fee_refund": "refund",
    "mint": "mint",
    "mint_resolved": "mint",
    "adjustment": "adjustment",
    "allowance": "allowance",
    "allowance_expired": "allowance",
    "use": "points",
    "points_closed": "points",
}


def _line(
    transfer: dict[str, Any], accounts: tuple[str, ...], resolutions: dict[str, dict]
) -> dict[str, Any]:
    section = SECTIONS.get(transfer["code"], "other")
    if section == "fee":
        section = "fee_earned" if transfer["credit"] in accounts else "fee_spent"
    account = transfer["credit"] if transfer["credit"] in accounts else transfer["debit"]
    resolution = resolutions.get(transfer["id"])
    return {
        "section": section,
        "seq": transfer["seq"],
        "order": transfer["order"],
        "code": transfer["code"],
        "ref": transfer["ref"],
        "account": account,
        "counterparty": transfer["debit"] if account == transfer["credit"] else transfer["credit"],
        "amount": statements.signed_amount(transfer, accounts),
        "unit": transfer["unit"],
        "flag": transfer["flag"],
        "state": statements.state_of(transfer, resolutions),
        "resolved_seq": resolution["seq"] if resolution else None,
        "transfer": transfer["id"],
    }


def _mint_line(lines: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((line for line in lines if line["code"] == "mint"), None)


def _balance_rows(accounts: tuple[str, ...], balances: dict[str, statements.Totals]) -> list[dict]:
    rows = []
    for account in accounts:
        _, kind, unit = statements.account_parts(account)
        rows.append(
            {
                "account": account,
                "kind": kind,
                "unit": unit,
                **balances.get(account, statements.Totals()).as_dict(),
            }
        )
    return rows


def _earned(epoch: str, member: int) -> list[dict[str, Any]]:
    """The member's uses as provider in the epoch by dataset, each with its chain and sequence number."""
    uses = list(CreditUse.objects.filter(epoch=epoch, provider_member=member).order_by("order"))
    seqs = _seqs_of_leaves(use.entry_leaf for use in uses)
    datasets: dict[int, dict[str, Any]] = {}
    for use in uses:
        entry = datasets.setdefault(use.dataset, {"dataset": use.dataset, "points": 0, "uses": []})
        entry["points"] += use.points
        entry["uses"].append(
            {
                "order": use.order,
                "seq": seqs.get(use.entry_leaf),
                "consumer_member": use.consumer_member,
                "consumer_group": use.consumer_group,
                "k": use.k,
                "chain": use.chain,
                "chain_text": statements.chain_text(use.chain, use.points),
                "points": use.points,
                "credited": use.credited,
                "reason": use.reason,
            }
        )
    return [datasets[dataset] for dataset in sorted(datasets)]


def _member_group(row: CreditEpoch, member: int) -> str:
    group = CreditMember.objects.filter(member=member).values_list("group", flat=True).first()
    return group or engine.default_group(member)


def _member_flags(row: CreditEpoch, groups: set[str], result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Flags of the epoch that name one of the member's groups, with the amount each holds of its mint."""
    flags = [flag for flag in _flags_of(row) if groups & (set(flag["groups"]) | set(flag["covers"]))]
    seqs = seqs_of_orders({order for flag in flags for order in flag["evidence"]})
    rows = _flag_rows(row, flags, seqs)
    for flag, shaped in zip(flags, rows, strict=True):
        holds = flag["holds_mint"] and bool(groups & set(flag["covers"]))
        shaped["held_mcr"] = result["minted"] if holds and result and result["held"] else 0
    return rows


def _rank(results: dict[int, dict[str, Any]], member: int) -> dict[str, Any] | None:
    rows = statements.ranked(
        {"key": str(m), "minted": r["minted"], "damped_points": r["damped_points"], "member": m}
        for m, r in results.items()
    )
    for row in rows:
        if row["member"] == member:
            result = results[member]
            return {
                "rank": row["rank"],
                "of": len(rows),
                "minted": result["minted"],
                "damped_points": result["damped_points"],
                "raw_points": result["raw_points"],
            }
    return None


def sum_tree_leaves(row: CreditEpoch) -> list[tuple[str, int]]:
    """The sorted (account, posted balance) leaves the epoch's settlement committed to, rebuilt from the
    transfers up to its settled order (see statements.sum_tree_leaves)."""
    before = _balances_as_of(row.settled_order - 1, prefix=statements.MEMBER_PREFIX)
    after = _balances_as_of(row.settled_order, prefix=statements.MEMBER_PREFIX)
    minted = CreditTransfer.objects.filter(
        order=row.settled_order, code="mint", flag=statements.POSTED
    ).values_list("credit", flat=True)
    return statements.sum_tree_leaves(touched_before=before, posted_mint_accounts=minted, posted_at=after)


def _proof(row: CreditEpoch, entry: LedgerEntry | None, accounts: tuple[str, ...]) -> dict[str, Any]:
    """Inclusion proofs of the member's CR accounts against the root stated in `epoch.settled`."""
    stated = json.loads(bytes(entry.canonical))["payload"] if entry is not None else row.settlement
    root_hex, total = stated.get("balance_root", ""), stated.get("balance_total", 0)
    leaves = sum_tree_leaves(row)
    rebuilt_root, rebuilt_total = sumtree.root(leaves)
    index = {account: position for position, (account, _) in enumerate(leaves)}
    proofs = []
    for account in accounts:
        if account not in index:
            continue
        position = index[account]
        steps = sumtree.inclusion_proof(leaves, position)
        balance = leaves[position][1]
        proofs.append(
            {
                "account": account,
                "balance": balance,
                "index": position,
                "path": [{"hash": h.hex(), "sum": s, "side": side} for h, s, side in steps],
                "verified": sumtree.verify_inclusion(account, balance, steps, bytes.fromhex(root_hex), total),
            }
        )
    return {
        "entry_seq": _entry_seq(entry),
        "balance_root": root_hex,
        "balance_total": total,
        "leaves": len(leaves),
        "rebuilt_root": rebuilt_root.hex(),
        "rebuilt_total": rebuilt_total,
        "root_matches": rebuilt_root.hex() == root_hex and rebuilt_total == total,
        "accounts": proofs,
    }


# --- totals -------------------------------------------------------------------------------------------------


def totals_for(*, user: Any, api_key: Any = None) -> dict[str, Any]:
    """Credit outstanding and where it is, for auditors (NotFound for others).

    outstanding = -posted(CR:issuance). Every other CR account falls in one bucket (pool, fees, escrow,
    members); each bucket shows its posted balance and its available part (posted minus pending debits).
    In flight is the sum of pending CR transfers not yet posted or voided, read from the transfer table.
    Two reconciliations, both exact: the posted balances sum to the outstanding (I2), and the available
    parts plus what is in flight sum to the outstanding (every pending debit is one in-flight transfer)."""
    _require_auditor(user, api_key, "totals")
    buckets: dict[str, statements.Totals] = defaultdict(statements.Totals)
    issuance = statements.Totals()
    for account in CreditAccount.objects.filter(account__startswith="CR:"):
        _, kind, _ = statements.account_parts(account.account)
        target = (
            issuance
            if kind == "issuance"
            else buckets["members" if kind in ("available", "allowance") else kind]
        )
        target.posted += account.credits_posted - account.debits_posted
        target.pending_debits += account.debits_pending
        target.pending_credits += account.credits_pending
    resolved = CreditTransfer.objects.exclude(pending_id="").values("pending_id")
    in_flight = (
        CreditTransfer.objects.filter(unit="CR", flag=statements.PENDING)
        .exclude(id__in=resolved)
        .aggregate(total=Sum("amount"))["total"]
        or 0
    )
    outstanding = -issuance.posted
    named = {name: buckets.pop(name, statements.Totals()) for name in ("pool", "fees", "escrow", "members")}
    if buckets:  # an account kind this code does not know: shown, and still counted
        named.update(buckets)
    posted_sum = sum(bucket.posted for bucket in named.values())
    available_sum = sum(bucket.available for bucket in named.values())
    return {
        "outstanding": outstanding,
        "buckets": {name: bucket.as_dict() for name, bucket in named.items()},
        "in_flight": in_flight,
        "posted_sum": posted_sum,
        "available_plus_in_flight": available_sum + in_flight,
        "reconciles": posted_sum == outstanding and available_sum + in_flight == outstanding,
    }


# --- transfers, held mints, adjustments ---------------------------------------------------------------------


def transfer_list_for(*, user: Any, api_key: Any = None) -> QuerySet[CreditTransfer]:
    """Every transfer by credit order and leg, with its ledger sequence number (`seq`), for auditors;
    NotFound for others."""
    _require_auditor(user, api_key, "transfers")
    return CreditTransfer.objects.annotate(seq=F("entry__leaf__seq")).order_by("order", "leg")


def epoch_order_range(epoch: str) -> tuple[int, int]:
    """The credit orders an epoch spans: from its opening to its settlement (open end while open)."""
    row = CreditEpoch.objects.filter(epoch=epoch).values("opened_order", "settled_order").first()
    if row is None:
        return 0, -1
    return row["opened_order"], row["settled_order"] if row["settled_order"] >= 0 else 2**62


def held_mint_list_for(*, user: Any, api_key: Any = None) -> QuerySet[CreditTransfer]:
    """Mints still held (pending, neither released nor forfeited), for auditors; NotFound for others."""
    _require_auditor(user, api_key, "held mints")
    resolved = CreditTransfer.objects.filter(code="mint_resolved").values("pending_id")
    return (
        CreditTransfer.objects.filter(code="mint", flag=statements.PENDING)
        .exclude(id__in=resolved)
        .annotate(seq=F("entry__leaf__seq"))
        .order_by("order", "leg")
    )


def adjustment_list_for(*, user: Any, api_key: Any = None) -> QuerySet[CreditAdjustment]:
    """Proposed and approved adjustments, newest first, for auditors; NotFound for others."""
    _require_auditor(user, api_key, "adjustments")
    return CreditAdjustment.objects.select_related("proposed_by", "approved_by").order_by(
        "-proposed_at", "-id"
    )


def adjustment_get_for(*, user: Any, pk: int, api_key: Any = None) -> CreditAdjustment:
    """One adjustment; NotFound when absent or for anyone but auditors."""
    found = adjustment_list_for(user=user, api_key=api_key).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No adjustment {pk}.")
    return found


def member_get(pk: int) -> Member:
    """A member named in a credit action (an affiliation's member or parent); NotFound if none."""
    found = Member.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No member {pk}.", code="no_member")
    return found
