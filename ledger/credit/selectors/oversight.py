"""Auditors' credit reads across the consortium: the leaderboard and flags of settled epochs, the totals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, overload

from django.db.models import F, Func, IntegerField, Sum

from consortium.errors import ValidationFailed
from consortium.models import Member, Sector, SizeClass
from ledger.credit import statements
from ledger.credit.models import CreditAccount, CreditEpoch, CreditMember, CreditTransfer
from ledger.credit.selectors.common import (
    require_auditor,
    resolutions_of,
    seqs_of_orders,
    settled_epoch_row,
)

GROUPING_WORDS = {"member": "Member", "sector": "Sector", "size_class": "Size class"}
LEADERBOARD_GROUPINGS = tuple(GROUPING_WORDS)
# A sector or size class row's label is the class's words (`C Manufacturing`, `Small`); its key the code.
_GROUP_CHOICES: dict[str, Any] = {"sector": Sector, "size_class": SizeClass}


# --- leaderboard --------------------------------------------------------------------------------------------


def member_results(row: CreditEpoch) -> dict[int, dict[str, Any]]:
    """Per provider member of a settled epoch: raw and damped points (as the settlement recorded them),
    the mint as it stands now (from the mint transfers and their resolutions): `minted` is what the member
    got or may still get (a forfeited mint counts 0), `held` whether it is still pending an audit, `state`
    pending, posted or void; and the mint's sequence numbers."""
    results: dict[int, dict[str, Any]] = {
        settled["member"]: {
            **settled,
            "minted": 0,
            "held": False,
            "state": "",
            "seq": None,
            "resolved_seq": None,
        }
        for settled in row.settlement.get("members", [])
    }
    mints = list(
        CreditTransfer.objects.filter(code="mint", ref__startswith=f"mint:{row.epoch}:")
        .annotate(seq=F("entry__leaf__seq"))
        .values("id", "flag", "credit", "amount", "seq")
    )
    resolutions = resolutions_of([mint["id"] for mint in mints if mint["flag"] == statements.PENDING])
    for mint in mints:
        member, _, _ = statements.account_parts(mint["credit"])
        if member is None:
            continue
        entry = results.setdefault(
            member,
            {"member": member, "group": "", "raw_points": 0, "damped_points": 0},
        )
        resolution = resolutions.get(mint["id"])
        state = statements.state_of(mint, resolutions)
        entry.update(
            minted=0 if state == "void" else mint["amount"],
            held=state == "pending",
            state=state,
            seq=mint["seq"],
            resolved_seq=resolution["seq"] if resolution else None,
        )
    return results


def leaderboard_for(
    *, user: Any, epoch: str, by: str = "member", api_key: Any = None
) -> list[dict[str, Any]]:
    """The consortium leaderboard of a settled epoch for auditors: minted credit and damped points by
    member, sector or size class, ranked (statements.ranked). NotFound for others and for an epoch not
    settled; ValidationFailed(bad_grouping) for another `by`."""
    require_auditor(user, api_key, "leaderboard")
    if by not in LEADERBOARD_GROUPINGS:
        raise ValidationFailed(
            f"Group by one of {', '.join(LEADERBOARD_GROUPINGS)}.",
            code="bad_grouping",
            errors={"by": [f"one of {', '.join(LEADERBOARD_GROUPINGS)}"]},
        )
    return _leaderboard(settled_epoch_row(epoch), by)


def _leaderboard(row: CreditEpoch, by: str) -> list[dict[str, Any]]:
    results = member_results(row)
    members: dict[int, dict[str, Any]] = {
        member["id"]: dict(member)
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
                "label": _group_words(by, key),
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


def flags_of(row: CreditEpoch) -> list[dict[str, Any]]:
    """The flags a settled epoch recorded (a settlement recorded before the flag list was kept in full
    holds only their count: none can be shown)."""
    flags = row.settlement.get("flags", [])
    return flags if isinstance(flags, list) else []


def flag_row(row: CreditEpoch, index: int, flag: dict[str, Any], seqs: dict[int, int | None]) -> dict:
    """Flag number `index` of settled epoch `row`, its evidence with the sequence numbers `seqs` gives."""
    return {
        "epoch": row.epoch,
        "index": index,
        "rule": flag["rule"],
        "groups": flag["groups"],
        "covers": flag["covers"],
        "holds_mint": flag["holds_mint"],
        "metrics": flag["metrics"],
        "evidence": [{"order": order, "seq": seqs.get(order)} for order in flag["evidence"]],
    }


def flag_rows(row: CreditEpoch, flags: list[dict[str, Any]], seqs: dict[int, int | None]) -> list[dict]:
    return [flag_row(row, index, flag, seqs) for index, flag in enumerate(flags)]


class _FlagCount(Func):
    """How many flags a settlement lists, counted by the database (0 for a settlement that kept only their
    count: flags_of shows none of those). PostgreSQL's jsonb (the template), or SQLite's JSON text."""

    _flags = "(%(expressions)s -> 'flags')"
    template = f"CASE WHEN jsonb_typeof({_flags}) = 'array' THEN jsonb_array_length({_flags}) ELSE 0 END"
    output_field = IntegerField()

    def __init__(self) -> None:
        super().__init__(F("settlement"))

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # json_array_length is 0 for a value that is not an array, NULL for no such key
        template = "COALESCE(json_array_length(%(expressions)s, '$.flags'), 0)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


class FlagList(Sequence[dict[str, Any]]):
    """The flags of some settled epochs, in order, built a slice at a time: its length is one query (each
    epoch's count of flags, from the database); a slice (a page) reads the settlements of the epochs it
    covers and the sequence numbers of its own flags' evidence, whatever the number of flags before or
    after it."""

    def __init__(self, counts: list[tuple[str, int]]) -> None:
        self._counts = [(epoch, count) for epoch, count in counts if count]  # (epoch, its flags)
        self._length = sum(count for _, count in self._counts)

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            rows = self._rows(start, stop) if start < stop else []
            return rows[::step] if step != 1 else rows
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError("flag index out of range")
        return self._rows(position, position + 1)[0]

    def _rows(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The flags at positions start to stop (0 <= start < stop <= len)."""
        wanted: list[tuple[str, int, int]] = []  # (epoch, first and last+1 index within its flags)
        offset = 0
        for epoch, count in self._counts:
            first, last = max(start - offset, 0), min(stop - offset, count)
            if first < last:
                wanted.append((epoch, first, last))
            offset += count
            if offset >= stop:
                break
        rows = CreditEpoch.objects.in_bulk([epoch for epoch, _, _ in wanted])
        chosen = [
            (rows[epoch], list(enumerate(flags_of(rows[epoch])))[first:last]) for epoch, first, last in wanted
        ]
        seqs = seqs_of_orders(order for _, flags in chosen for _, flag in flags for order in flag["evidence"])
        return [
            flag_row(epoch_row, index, flag, seqs) for epoch_row, flags in chosen for index, flag in flags
        ]


def flag_list_for(*, user: Any, epoch: str | None = None, api_key: Any = None) -> FlagList:
    """Anti-gaming flags of settled epochs (one epoch, or all, oldest first) with their metrics and
    evidence as credit orders and ledger sequence numbers: a sequence whose length costs one query and
    whose slices (pages) are built alone (FlagList). NotFound for anyone but auditors."""
    require_auditor(user, api_key, "flags")
    epochs = CreditEpoch.objects.filter(settled_order__gte=0).order_by("settled_order")
    if epoch:
        epochs = epochs.filter(epoch=epoch)
    return FlagList(list(epochs.annotate(flags=_FlagCount()).values_list("epoch", "flags")))


# --- totals -------------------------------------------------------------------------------------------------


def totals_for(*, user: Any, api_key: Any = None) -> dict[str, Any]:
    """Credit outstanding and where it is, for auditors (NotFound for others).

    outstanding = -posted(CR:issuance). Every other CR account falls in one bucket (pool, fees, escrow,
    members); each bucket shows its posted balance and its available part (posted minus pending debits).
    In flight is the sum of pending CR transfers not yet posted or voided, read from the transfer table.
    Two reconciliations, both exact: the posted balances sum to the outstanding (I2), and the available
    parts plus what is in flight sum to the outstanding (every pending debit is one in-flight transfer)."""
    require_auditor(user, api_key, "totals")
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


def _group_words(by: str, key: str) -> str:
    choices = _GROUP_CHOICES[by]
    return str(choices(key).label) if key in choices.values else key


def group_members_for(*, user: Any, groups: Iterable[str], api_key: Any = None) -> dict[str, list[Member]]:
    """The members of each affiliation group named (as the rules know them, CreditMember), by legal name:
    who a flag's groups are, in two queries however many flags. NotFound for anyone but auditors; a group
    with no member known is left out."""
    require_auditor(user, api_key, "flags")
    wanted = set(groups)
    if not wanted:
        return {}
    grouped = dict(CreditMember.objects.filter(group__in=wanted).values_list("member", "group"))
    found: dict[str, list[Member]] = defaultdict(list)
    for member in Member.objects.filter(pk__in=grouped).order_by("legal_name", "pk"):
        found[grouped[member.pk]].append(member)
    return dict(found)
