"""Members' credit balances and contribution statements (auditors see any member's), with their proofs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import F, Q, QuerySet, Sum

from consortium.errors import NotFound, ValidationFailed
from consortium.models import Member
from consortium.selectors import member_list_for
from ledger.credit import engine, statements, sumtree
from ledger.credit.models import CreditAccount, CreditEpoch, CreditMember, CreditTransfer, CreditUse
from ledger.credit.replay import MemoryState
from ledger.credit.selectors.common import (
    OPEN_END,
    epoch_row,
    is_auditor,
    member_account_q,
    own_member,
    resolutions_of,
    seqs_of_leaves,
    seqs_of_orders,
)
from ledger.credit.selectors.oversight import flag_rows, flags_of, member_results
from ledger.models import LedgerEntry

# --- balances -----------------------------------------------------------------------------------------------


def balance_list_for(*, user: Any, api_key: Any = None) -> QuerySet[CreditAccount]:
    """Accounts with their running balances: the caller's member's accounts, or every account for
    auditors. Someone with neither (a security officer) sees none."""
    accounts = CreditAccount.objects.order_by("account")
    if is_auditor(user, api_key):
        return accounts
    try:
        member = own_member(user, api_key)
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


# --- statement ----------------------------------------------------------------------------------------------


def _settled_entry(epoch: str) -> LedgerEntry | None:
    return (
        LedgerEntry.objects.filter(kind="epoch.settled", subject_type="epoch", subject_id=epoch)
        .select_related("leaf")
        .first()
    )


def statement_for(*, user: Any, epoch: str, member: int | None = None, api_key: Any = None) -> dict[str, Any]:
    """A member's contribution statement for an epoch (see ledger.credit.statements for the numbers).

    Members get their own (another `member` is NotFound); auditors name any member. A statement covers the
    credit orders after the previous epoch's `epoch.settled` up to this epoch's (to now while open), so
    what happens while no epoch is open (between a settlement and the next opening) is on the next
    statement: every transfer and every use is on exactly one statement, and each statement opens with the
    previous one's closing balances. Each line is in its state at the end of the period, as the closing
    balances count it; a post or void after the period is named apart (`later_state`, `later_seq`), so a
    closed statement does not change. Its `group` is the member's group at the end of the period and its
    flags are those settlement applied to the groups it earned under in the epoch (`earned_groups`), so a
    later affiliation does not change them either. The held mint (`held_mcr`, each flag's share of it) and
    the rank read the mint as it stands now, after any audit that released or forfeited it. Each earned
    dataset carries its `title` and each use its `consumer_name`, the consumer member's name only where the
    caller may see that member elsewhere (member_list_for), else None; two queries however many lines.
    NotFound for an unknown epoch or member."""
    if is_auditor(user, api_key):
        if member is None:
            raise ValidationFailed(
                "Name the member whose statement you want.",
                code="member_required",
                errors={"member": ["required for auditors"]},
            )
    else:
        own = own_member(user, api_key)
        if member is not None and member != own:
            raise NotFound("No credit statement that you may see.")
        member = own
    subject = Member.objects.filter(pk=member).values("id", "legal_name", "sector", "size_class").first()
    if subject is None:
        raise NotFound("No such member.")
    row = epoch_row(epoch)
    statement = _statement(row, subject)
    _name_earned(statement["earned"], user=user, api_key=api_key)
    return statement


def _name_earned(earned: list[dict[str, Any]], *, user: Any, api_key: Any) -> None:
    """Put each dataset's title and each use's consumer name on the statement's `earned` section."""
    titles = _dataset_titles(dataset["dataset"] for dataset in earned)
    consumers = {use["consumer_member"] for dataset in earned for use in dataset["uses"]}
    names = (
        dict(
            member_list_for(user=user, api_key=api_key)
            .filter(pk__in=consumers)
            .values_list("pk", "legal_name")
        )
        if consumers
        else {}
    )
    for dataset in earned:
        dataset["title"] = titles.get(dataset["dataset"])
        for use in dataset["uses"]:
            use["consumer_name"] = names.get(use["consumer_member"])


def _dataset_titles(datasets: Iterable[int]) -> dict[int, str]:
    """Dataset id -> title as its `dataset.registered` entry states it (a title is set once, at
    registration), in one query; a dataset the ledger has no registration for is left out. The caller
    decides who may read them: a statement names only its member's own datasets, which the member's people
    and auditors may all open."""
    wanted = {str(dataset) for dataset in datasets}
    if not wanted:
        return {}
    rows = LedgerEntry.objects.filter(
        kind="dataset.registered", subject_type="dataset", subject_id__in=wanted
    ).values_list("subject_id", "canonical")
    titles = {}
    for subject, canonical in rows:
        title = json.loads(bytes(canonical))["payload"].get("title")
        if isinstance(title, str):
            titles[int(subject)] = title
    return titles


def _previous_settled(row: CreditEpoch) -> CreditEpoch | None:
    """The epoch settled last before `row` opened (None for the first epoch)."""
    return (
        CreditEpoch.objects.filter(settled_order__gte=0, settled_order__lt=row.opened_order)
        .order_by("-settled_order")
        .first()
    )


def _statement(row: CreditEpoch, subject: Mapping[str, Any]) -> dict[str, Any]:
    member = subject["id"]
    accounts = statements.member_accounts(member)
    settled = row.settled_order >= 0
    previous = _previous_settled(row)
    first = previous.settled_order + 1 if previous is not None else 0
    last = row.settled_order if settled else OPEN_END
    mine = Q(debit__in=accounts) | Q(credit__in=accounts)
    opening = _balances_as_of(first - 1, accounts=accounts)
    closing = _balances_as_of(last, accounts=accounts)
    in_epoch = CreditTransfer.objects.filter(mine, order__gte=first, order__lte=last)
    transfers = list(
        in_epoch.annotate(seq=F("entry__leaf__seq"))
        .order_by("order", "leg")
        .values(
            "id", "order", "leg", "flag", "debit", "credit", "amount", "unit", "code", "ref", "role", "seq"
        )
    )
    resolutions = resolutions_of([t["id"] for t in transfers if t["flag"] == statements.PENDING])
    lines = [_line(transfer, accounts, resolutions, last) for transfer in transfers]
    settled_entry = _settled_entry(row.epoch) if settled else None
    uses = _uses(member, first, last)
    earned, duplicates = _provider_groups(uses, row.epoch)
    results = member_results(row) if settled else {}
    mine_result = results.get(member)
    # The mint as it stands now (an audit may have released or forfeited it since): one mint, however
    # many flags hold it; each holding flag shows all of it, `held_mcr` counts it once.
    held = mine_result["minted"] if mine_result and mine_result["held"] else 0
    flags = _member_flags(row, earned, duplicates, held)
    ranking = _rank(results, member) if settled else None
    return {
        "epoch": row.epoch,
        "member": subject,
        "group": _group_at(member, last),
        "earned_groups": sorted(earned),
        "settled": settled,
        "opening_seq": _entry_seq(_settled_entry(previous.epoch)) if previous is not None else None,
        "opened_seq": seqs_of_orders([row.opened_order]).get(row.opened_order),
        "settled_seq": _entry_seq(settled_entry),
        "opening": _balance_rows(accounts, opening),
        "closing": _balance_rows(accounts, closing),
        "earned": _earned(uses),
        "mint": _mint_line(lines),
        "fees_earned": [line for line in lines if line["section"] == "fee_earned"],
        "fees_spent": [line for line in lines if line["section"] == "fee_spent"],
        "refunds": [line for line in lines if line["section"] == "refund"],
        "adjustments": [line for line in lines if line["section"] == "adjustment"],
        "allowance": [line for line in lines if line["section"] == "allowance"],
        "lines": lines,
        "flags": flags,
        "held_mcr": held,
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
    transfer: Mapping[str, Any], accounts: tuple[str, ...], resolutions: dict[str, dict], last: int
) -> dict[str, Any]:
    """One transfer as the statement shows it: its state at the end of the period (credit order `last`),
    as the closing balances count it; a post or void after the period is named apart (`later_state`,
    `later_seq`), so a closed statement's lines and balances never disagree."""
    section = SECTIONS.get(transfer["code"], "other")
    if section == "fee":
        section = "fee_earned" if transfer["credit"] in accounts else "fee_spent"
    account = transfer["credit"] if transfer["credit"] in accounts else transfer["debit"]
    resolution = resolutions.get(transfer["id"])
    later = None
    if resolution is not None and resolution["order"] > last:
        resolution, later = None, resolution
    within = {transfer["id"]: resolution} if resolution is not None else {}
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
        "state": statements.state_of(transfer, within),
        "resolved_seq": resolution["seq"] if resolution else None,
        "later_state": statements.state_of(transfer, {transfer["id"]: later}) if later else None,
        "later_seq": later["seq"] if later else None,
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


def _uses(member: int, first: int, last: int) -> list[CreditUse]:
    """The member's uses as provider with credit orders in [first, last] (a statement's period), in order.
    They are all of the epoch's uses (recorded between its opening and its settlement, one epoch open at a
    time, and the period runs from the previous settlement) and those recorded while no epoch was open
    before it (epoch "", with reason no_epoch or a reason that came first), which its statement lists."""
    return list(
        CreditUse.objects.filter(provider_member=member, order__gte=first, order__lte=last).order_by("order")
    )


def _earned(uses: list[CreditUse]) -> list[dict[str, Any]]:
    """The statement's uses (`_uses`) by dataset, each with its chain and sequence number (a use recorded
    while no epoch was open earns nothing, reason no_epoch, and is listed on the next epoch's statement)."""
    seqs = seqs_of_leaves(use.entry_leaf for use in uses)
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


def _group_at(member: int, order: int) -> str:
    """The member's affiliation group after the credit entries up to `order` (OPEN_END: now): its
    `member.affiliated` entries replayed through the rules, which also move the members of a group whose
    head joins another. A statement names the group of its period, whatever affiliations came later."""
    if order == OPEN_END:  # the groups as they stand: stored by the rules as each affiliation posted
        group = CreditMember.objects.filter(member=member).values_list("group", flat=True).first()
        return group or engine.default_group(member)
    state = MemoryState()
    stored = LedgerEntry.objects.filter(kind="member.affiliated").values_list("canonical", "leaf_hash")
    entries = [engine.Entry.from_document(json.loads(bytes(doc)), bytes(leaf).hex()) for doc, leaf in stored]
    for entry in sorted(entries, key=lambda entry: entry.order):
        if entry.order <= order:
            engine.apply_entry(state, entry)  # no rules in the state: it records the group only
    return engine.group_of(state, member)


def _provider_groups(uses: list[CreditUse], epoch: str) -> tuple[set[str], set[str]]:
    """The groups the member earned under in the epoch (the provider groups of its uses that settlement
    read, engine.settles) and those under which downloads of its data earned nothing as duplicate
    listings, from the statement's uses (`_uses`: every use of the epoch is among them; those recorded
    while no epoch was open are not the epoch's and are left out). Each use keeps the group it was
    recorded under, so a later affiliation changes neither."""
    earned, duplicates = set(), set()
    for use in uses:
        if use.epoch != epoch:
            continue
        if engine.settles(use):
            earned.add(use.provider_group)
        elif use.reason == "duplicate_listing":
            duplicates.add(use.provider_group)
    return earned, duplicates


def _member_flags(
    row: CreditEpoch, earned: set[str], duplicates: set[str], held: int
) -> list[dict[str, Any]]:
    """The flags settlement applied to the member, with the amount each holds of its mint: those covering a
    group it earned under in the epoch (as settlement picks the flags that hold a member's mint), and the
    duplicate-listing flags of the groups its duplicate listings were downloaded under. A flag that only
    names one of its groups (a consumer in a fresh cluster, say) concerns another member's mint."""
    flags = [
        flag
        for flag in flags_of(row)
        if earned & set(flag["covers"])
        or (flag["rule"] == "duplicate_listing" and duplicates & set(flag["covers"]))
    ]
    seqs = seqs_of_orders({order for flag in flags for order in flag["evidence"]})
    rows = flag_rows(row, flags, seqs)
    for flag, shaped in zip(flags, rows, strict=True):
        holds = flag["holds_mint"] and bool(earned & set(flag["covers"]))
        shaped["held_mcr"] = held if holds else 0
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
