"""Permission-checked reads of the ledger: entries an actor may see, proofs, checkpoints and keys."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from consortium.errors import Conflict, NotFound, ValidationFailed
from consortium.roles import Capability, can, reads_log
from ledger import canonical, tree
from ledger.models import Checkpoint, LedgerEntry, LedgerLeaf
from ledger.services import checkpoints_signed_after_commit


def may_read_log(user: Any) -> bool:
    """Checkpoints, proofs and keys are public to active members and consortium staff (roles.reads_log,
    which the portal's navigation asks too)."""
    return reads_log(user)


# Consortium-wide credit entries that name no member and state only rules and totals. Every member needs
# them to check its own statement: the rules in force, and the signed balance sum-tree root its proof is
# against (CREDIT.md "Audit and statements"). Per-member results stay in auditor-only views.
CONSORTIUM_WIDE_KINDS = ("credit.rules_changed", "epoch.opened", "epoch.settled")


def entry_list_for(*, user: Any, api_key: Any = None) -> QuerySet[LedgerLeaf]:
    """Sequenced entries the user may see, by sequence number: all for auditors and officers, otherwise
    those that concern the user's member (named in `members` or acted by it) and the consortium-wide
    credit entries that name no member (rules, epoch openings and settlements)."""
    leaves = LedgerLeaf.objects.select_related("entry").order_by("seq")
    if can(user, Capability.AUDIT, api_key):
        return leaves
    if not may_read_log(user) or user.member_id is None:
        return leaves.none()
    visible = leaves.filter(
        concerns_member(user.member_id) | Q(entry__kind__in=CONSORTIUM_WIDE_KINDS, entry__member_refs="")
    )
    if not can(user, Capability.VIEW_OWN_USERS, api_key):
        # who was added to the firm and which keys it holds are for those who manage its people
        visible = visible.exclude(entry__kind__startswith="member.user_").exclude(
            entry__kind__startswith="member.api_key_"
        )
    return visible


def concerns_member(member_id: int) -> Q:
    """Entries that name the member among their parties or were made by one of its people."""
    return Q(entry__member_refs__contains=f"|{member_id}|") | Q(entry__actor_member_id=member_id)


def entry_get_for(*, user: Any, seq: int, api_key: Any = None) -> LedgerLeaf:
    """One visible entry by sequence number; NotFound when absent or not visible."""
    leaf = entry_list_for(user=user, api_key=api_key).filter(seq=seq).first()
    if leaf is None:
        raise NotFound(f"No ledger entry {seq} that you may see.")
    return leaf


def sequence_numbers(entry_ids: Iterable[int]) -> dict[int, int]:
    """The sequence number of each of these entries that has one (an entry has none until sequenced),
    in one query. Not a permission boundary: for entries the caller already shows."""
    return dict(LedgerLeaf.objects.filter(entry_id__in=list(entry_ids)).values_list("entry_id", "seq"))


def require_log_reader(user: Any) -> None:
    """NotFound unless `user` may read the ledger's checkpoints, proofs and keys (may_read_log)."""
    if not may_read_log(user):
        raise NotFound("The ledger is visible to active members and consortium staff.")


def _check_size(size: int, current: int, name: str) -> None:
    if size < 1 or size > current:
        raise ValidationFailed(
            f"{name} must be between 1 and the current tree size {current}.",
            code="tree_size_out_of_range",
            errors={name: [f"must be between 1 and {current}"]},
        )


def inclusion_proof_for(
    *, user: Any, tree_size: int, seq: int | None = None, leaf_hash: bytes | None = None
) -> dict[str, Any]:
    """The inclusion proof of an entry (by sequence number or leaf hash) in the tree of `tree_size`, for
    any entry the log holds, one `user` may not read (entry_get_for) included: proofs are public to the
    log's readers, and a leaf hash reveals nothing of its entry (docs/ledger-format.md, "Proofs of entries
    the caller may not read").

    ValidationFailed: tree_size_out_of_range (beyond the current tree), seq_out_of_range (no such entry
    yet), entry_not_in_tree (the entry came after that tree; the body names the checkpoint to ask
    against). Conflict(entry_not_sequenced, with `retry_after_seconds`) for an accepted entry still waiting
    for its number; NotFound(unknown_leaf_hash) when no entry has the hash."""
    require_log_reader(user)
    if leaf_hash is not None:
        # Before the tree's size: a leaf the sequencer adds in between is then inside the size read.
        entries = LedgerEntry.objects.filter(leaf_hash=leaf_hash)
        found = entries.values_list("leaf__seq", "accepted_at").first()
        if found is None:
            raise NotFound("No entry has that leaf hash.", code="unknown_leaf_hash")
        seq, accepted_at = found
        if seq is None:
            raise _not_sequenced(accepted_at)
    current = tree.tree_size()
    _check_size(tree_size, current, "tree_size")
    if seq is None or seq < 0 or seq >= current:
        raise ValidationFailed(
            f"No entry has seq {seq}: the tree holds seq 0 to {current - 1}.",
            code="seq_out_of_range",
            errors={"seq": [f"must be below the current tree size {current}"]},
            current_tree_size=current,
        )
    if seq >= tree_size:
        raise _entry_not_in_tree(seq, tree_size, current)
    leaf_node = tree.node_hashes([(0, seq)])[(0, seq)]
    return {
        "seq": seq,
        "tree_size": tree_size,
        "leaf_hash": leaf_node,
        "root_hash": tree.root_hash(tree_size),
        "proof": tree.inclusion_proof(seq, tree_size),
    }


def _not_sequenced(accepted_at: datetime) -> Conflict:
    """An entry accepted moments ago (its receipt in the caller's hands, its number not yet given), told
    apart from a hash the ledger never accepted, with when to ask again."""
    bound = settings.LEDGER["SEQUENCER_INTERVAL_SECONDS"]
    waited = (timezone.now() - accepted_at).total_seconds()
    # Past the bound the sequencer is late (beat down?): ask again a whole interval later, not every second.
    retry_after = max(1, math.ceil(bound - waited)) if waited < bound else bound
    return Conflict(
        f"The entry was accepted at {canonical.format_time(accepted_at)} and has no sequence number yet "
        f"(entries get theirs within {bound} seconds of acceptance). Ask again in {retry_after} seconds.",
        code="entry_not_sequenced",
        accepted_at=canonical.format_time(accepted_at),
        max_integration_delay_seconds=bound,
        retry_after_seconds=retry_after,
    )


def _entry_not_in_tree(seq: int, tree_size: int, current: int) -> ValidationFailed:
    """The entry exists but joined the log after the tree asked for: say so, and which tree to ask for.

    A proof is checked against a signed checkpoint's root, so the useful size is a checkpoint's: the
    latest one if it holds the entry, otherwise the next one (checkpoints are signed on a schedule)."""
    latest = Checkpoint.objects.order_by("-tree_size").values_list("tree_size", flat=True).first()
    if latest is not None and latest > seq:
        advice = f"ask with tree_size={latest}, the latest signed checkpoint."
    else:
        advice = (
            f"the latest signed checkpoint (size {latest or 0}) does not hold it yet: ask again with the "
            "tree_size of a later checkpoint once one is signed (GET /api/v1/ledger/checkpoints/latest/)."
        )
    return ValidationFailed(
        f"The entry is seq {seq}, which is not in the tree of size {tree_size} (seq 0 to {tree_size - 1}); "
        + advice,
        code="entry_not_in_tree",
        errors={"tree_size": [f"must be above the entry's seq {seq}"]},
        seq=seq,
        tree_size=tree_size,
        current_tree_size=current,
        latest_checkpoint_size=latest,
    )


def consistency_proof_for(*, user: Any, first: int, second: int) -> dict[str, Any]:
    """The consistency proof between tree sizes `first` <= `second`."""
    require_log_reader(user)
    current = tree.tree_size()
    _check_size(first, current, "first")
    _check_size(second, current, "second")
    if first > second:
        raise ValidationFailed(
            "first must not exceed second.", code="sizes_reversed", errors={"first": ["must be <= second"]}
        )
    return {
        "first": first,
        "second": second,
        "first_root_hash": tree.root_hash(first),
        "second_root_hash": tree.root_hash(second),
        "proof": tree.consistency_proof(first, second),
    }


def checkpoint_get_for(*, user: Any, tree_size: int | None = None) -> Checkpoint:
    """The latest checkpoint, or the one of exactly `tree_size`."""
    require_log_reader(user)
    checkpoints = Checkpoint.objects.select_related("key")
    checkpoint = (
        checkpoints.order_by("-tree_size").first()
        if tree_size is None
        else checkpoints.filter(tree_size=tree_size).first()
    )
    if checkpoint is None and tree_size is None:
        interval = settings.LEDGER["CHECKPOINT_INTERVAL_SECONDS"]
        raise NotFound(
            f"No checkpoint has been signed yet: the first is signed within {interval} seconds of the "
            "first ledger entry (GET /api/v1/ledger/status/ says how checkpoints are scheduled).",
            code="no_checkpoint_yet",
        )
    if checkpoint is None:
        raise NotFound(f"No checkpoint was signed at tree size {tree_size}.", code="no_checkpoint")
    return checkpoint


def checkpoint_list_for(*, user: Any) -> QuerySet[Checkpoint]:
    require_log_reader(user)
    return Checkpoint.objects.select_related("key").order_by("tree_size")


def ledger_status_for(*, user: Any) -> dict[str, Any]:
    """Tree size, pending entries, the bound on how long an accepted entry waits for its number, and when
    checkpoints are signed."""
    require_log_reader(user)
    pending = LedgerEntry.objects.filter(leaf__isnull=True).aggregate(
        count=Count("id"), oldest=Min("accepted_at")
    )
    latest = Checkpoint.objects.order_by("-tree_size").values_list("tree_size", "issued_at").first()
    oldest = pending["oldest"]
    return {
        "tree_size": tree.tree_size(),
        "pending_entries": pending["count"],
        "oldest_pending_age_seconds": (timezone.now() - oldest).total_seconds() if oldest else 0.0,
        "max_integration_delay_seconds": settings.LEDGER["SEQUENCER_INTERVAL_SECONDS"],
        "checkpoint_interval_seconds": settings.LEDGER["CHECKPOINT_INTERVAL_SECONDS"],
        "checkpoint_schedule": "after_commit" if checkpoints_signed_after_commit() else "periodic",
        "latest_checkpoint_size": latest[0] if latest else None,
        "latest_checkpoint_issued_at": latest[1] if latest else None,
    }
