"""What every credit read shares: who may see what, epochs, ledger sequence numbers, pending resolutions.

Members see their own member's accounts and statements; auditors and officers (Capability.AUDIT) see
everything. What the actor may not see is NotFound (404), never forbidden: a member asking for another
member's statement, or anyone but an auditor asking for the leaderboard, gets the same answer as for
something that does not exist.

Ledger sequence numbers: a transfer's ``entry`` is the ledger entry that caused it; its sequence number
is that entry's leaf (null while the entry waits for the sequencer). Flags and uses name credit orders;
they are mapped to sequence numbers through the transfers and uses of that order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import F, Q, QuerySet, Subquery

from consortium.errors import NotFound
from consortium.roles import Capability, can, reads_own_credit
from ledger.credit.models import CreditEpoch, CreditRules, CreditTransfer, CreditUse
from ledger.models import LedgerEntry

# --- who may see what ---------------------------------------------------------------------------------------

OPEN_END = 2**62  # the credit order an open epoch runs to: past any real one


def is_auditor(user: Any, api_key: Any = None) -> bool:
    """Auditors and officers read all credit data."""
    return can(user, Capability.AUDIT, api_key)


def require_auditor(user: Any, api_key: Any, what: str) -> None:
    """NotFound ("No <what> that you may see.") unless `user` is an auditor or officer."""
    if not is_auditor(user, api_key):
        raise NotFound(f"No {what} that you may see.")


def require_statement_reader(user: Any, api_key: Any) -> None:
    """NotFound ("No credit statement that you may see.") unless `user` may read some statement: an auditor
    or officer (any member's), or one of a member's people who may read its credit (its own)."""
    if not is_auditor(user, api_key):
        own_member(user, api_key)


def own_member(user: Any, api_key: Any) -> int:
    """The id of the member whose credit `user` may read; NotFound for anyone without one."""
    if not reads_own_credit(user, api_key):
        raise NotFound("No credit statement that you may see.")
    return int(user.member_id)


def member_account_q(member: int, *, field: str = "account") -> Q:
    """The accounts of one member (its CR accounts by prefix, its points account exactly)."""
    return Q(**{f"{field}__startswith": f"CR:member:{member}:"}) | Q(**{field: f"PT:member:{member}"})


# --- sequence numbers ---------------------------------------------------------------------------------------


def seqs_of_leaves(leaves: Iterable[str]) -> dict[str, int | None]:
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
        seqs = seqs_of_leaves(leaves.values())
        found.update({order: seqs.get(leaf) for order, leaf in leaves.items()})
    return {order: found.get(order) for order in wanted}


# --- epochs -------------------------------------------------------------------------------------------------


def epoch_row(epoch: str) -> CreditEpoch:
    row = CreditEpoch.objects.filter(epoch=epoch).first()
    if row is None:
        raise NotFound(f"No credit epoch {epoch}.", code="no_epoch")
    return row


def settled_epoch_row(epoch: str) -> CreditEpoch:
    row = epoch_row(epoch)
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


def epoch_list_for(*, user: Any, api_key: Any = None) -> QuerySet[CreditEpoch]:
    """The epochs, newest first, for whoever may read a statement or a leaderboard of one: a member's
    people and keys, auditors and officers; none for anyone else (a security officer)."""
    epochs = CreditEpoch.objects.order_by("-opened_order")
    if is_auditor(user, api_key):
        return epochs
    try:
        own_member(user, api_key)
    except NotFound:
        return epochs.none()
    return epochs


def epoch_rules_params(epoch: str) -> dict[str, int] | None:
    """The parameters of the rules `epoch` runs under, as its `epoch.opened` named them (those its
    settlement applied, or will apply while it is open; a rules change since applies from the next epoch),
    in one query; None for an unknown epoch. Not permission-checked: the rules are published to the whole
    consortium in the ledger."""
    rules = CreditEpoch.objects.filter(epoch=epoch).values("rules")
    return CreditRules.objects.filter(hash=Subquery(rules)).values_list("params", flat=True).first()


def epochs_rules_params(epochs: Iterable[str]) -> dict[str, dict[str, int]]:
    """`epoch_rules_params` of several epochs at once (two queries), by epoch; unknown epochs left out."""
    hashes = dict(CreditEpoch.objects.filter(epoch__in=list(epochs)).values_list("epoch", "rules"))
    params = dict(CreditRules.objects.filter(hash__in=set(hashes.values())).values_list("hash", "params"))
    return {epoch: params[digest] for epoch, digest in hashes.items() if digest in params}


# --- pending transfers --------------------------------------------------------------------------------------


def resolutions_of(pending_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The post or void row of each pending transfer that has one, by the pending transfer's id."""
    if not pending_ids:
        return {}
    rows = (
        CreditTransfer.objects.filter(pending_id__in=pending_ids)
        .annotate(seq=F("entry__leaf__seq"))
        .values("pending_id", "flag", "seq", "order")
    )
    return {row["pending_id"]: dict(row) for row in rows}
