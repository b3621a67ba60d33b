"""Signed checkpoints of the whole tree, each proved to extend the last one signed."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ledger import keys, merkle, signing
from ledger.models import Checkpoint, SigningKey
from ledger.services.sequencing import _wait_for_sequencer_lock, ledger_sequence
from ledger.tree import consistency_proof, root_hash, tree_size


class ForkDetected(RuntimeError):
    """The stored tree no longer extends the last signed checkpoint: refuse to sign anything."""


def checkpoint_issue(*, unless_issued_after: datetime | None = None) -> Checkpoint:
    """Sequence what is pending, then sign a checkpoint of the whole tree (or return the current one).

    With `unless_issued_after`, a latest checkpoint issued after that time is returned instead (checked
    under the lock: callers that find a checkpoint due at the same moment sign one between them).
    Before signing it proves the tree consistent with the last checkpoint it signed, so it never signs a
    fork. Raises ForkDetected (and signs nothing) if the stored tree does not extend that checkpoint.
    """
    ledger_sequence()
    with transaction.atomic():
        _wait_for_sequencer_lock()
        size = tree_size()
        last = Checkpoint.objects.order_by("-tree_size").first()
        if last is not None and last.tree_size == size:
            return last
        if last is not None and unless_issued_after is not None and last.issued_at > unless_issued_after:
            return last
        root = root_hash(size)
        if last is not None:
            _prove_extends(last, size, root)
        signer = keys.active_signer()
        note = signing.sign_checkpoint(signer.private_key, keys.origin(), size, root)
        return Checkpoint.objects.create(
            tree_size=size,
            root_hash=root,
            issued_at=timezone.now(),
            key=SigningKey.objects.get(key_id=signer.key_id),
            note=note,
        )


def _prove_extends(last: Checkpoint, size: int, root: bytes) -> None:
    old_root = bytes(last.root_hash)
    if root_hash(last.tree_size) != old_root:
        raise ForkDetected(
            f"The stored tree's root at size {last.tree_size} differs from the signed checkpoint."
        )
    proof = consistency_proof(last.tree_size, size)
    if not merkle.verify_consistency(last.tree_size, size, old_root, root, proof):
        raise ForkDetected(f"Size {size} is not consistent with the checkpoint of size {last.tree_size}.")
