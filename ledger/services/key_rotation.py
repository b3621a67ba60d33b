"""Rotating the signing key, and putting the previous key back when the rotation does not commit."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, transaction

from consortium.errors import Conflict
from consortium.transactions import CommitWatch
from ledger import keys, signing
from ledger.models import SigningKey
from ledger.services.appending import ledger_append
from ledger.services.sequencing import _wait_for_sequencer_lock

if TYPE_CHECKING:
    from consortium.models import User


logger = logging.getLogger(__name__)


def signing_key_rotate(*, actor: User | None = None) -> SigningKey:
    """Replace the signing key file with a new key, publish it and record `key.rotated`.

    Older receipts and checkpoints stay verifiable: their keys stay published with their validity windows.
    The new key is in the file before the entry is appended (the entry's own receipt is signed by it), so a
    rotation that does not commit puts the previous key back and removes the retired copy it made: no key
    changes without its entry. Called inside a caller's transaction, only the caller's commit publishes the
    new key; a rollback of the caller's after this returned leaves the file rotated.
    Raises Conflict when the key comes from the environment (rotate it there, then restart).
    """
    if settings.LEDGER["SIGNING_KEY_PEM"]:
        raise Conflict(
            "The signing key comes from LEDGER_SIGNING_KEY; put the new key there and restart instead.",
            code="key_from_environment",
        )
    path = keys._key_path()
    commit = CommitWatch()
    undo: _KeyUndo | None = None
    try:
        with transaction.atomic():
            # First of the block's after-commit hooks, which run inside its exit: whatever a later one
            # raises, the rotation committed and stays.
            commit.start()
            _wait_for_sequencer_lock()  # one rotation at a time, and never while a checkpoint is being signed
            previous = keys.active_signer()
            retired = path.with_name(f"{path.name}.retired-{previous.key_id}")
            new_pem = signing.generate_private_key_pem()
            undo = _KeyUndo(path.read_bytes(), retired, not retired.exists(), _key_id_of(new_pem))
            keys.write_private_key(retired, undo.previous_pem)
            keys.write_private_key(path, new_pem)
            keys.forget_cached_signer()
            current = keys.active_signer()
            ledger_append(
                kind="key.rotated",
                actor=actor,
                subject_type="signing_key",
                subject_id=current.key_id,
                payload={
                    "key_id": current.key_id,
                    "public_key": base64.b64encode(current.public_key).decode(),
                    "previous_key_id": previous.key_id,
                },
            )
    except BaseException:
        if undo is not None and not commit.happened:
            _undo_key_rotation(path, undo)
        raise
    return SigningKey.objects.get(key_id=current.key_id)


@dataclass(frozen=True)
class _KeyUndo:
    """What a rotation that does not commit puts back: the previous key's PEM, and the retired copy to
    remove if the rotation made it."""

    previous_pem: bytes
    retired: Path
    retired_is_new: bool
    new_key_id: str


def _key_id_of(pem: bytes) -> str:
    return signing.key_id(keys.origin(), signing.public_key_bytes(signing.load_private_key_pem(pem)))


def _undo_key_rotation(path: Path, undo: _KeyUndo) -> None:
    """Put the previous key back in `path` after a rotation rolled back, unless another process had
    published the new key meanwhile (it read the file and signed with it): then the new key stays, since
    the previous one's receipts would fall outside its validity window."""
    try:
        adopted = SigningKey.objects.filter(key_id=undo.new_key_id).exists()
    except DatabaseError:  # the caller's transaction is broken, or the database gone: nobody published it
        adopted = False
    if adopted:
        logger.warning("Key rotation rolled back, but key %s is already in use: it stays.", undo.new_key_id)
        return
    keys.write_private_key(path, undo.previous_pem)
    if undo.retired_is_new:
        undo.retired.unlink(missing_ok=True)
    keys.forget_cached_signer()
    logger.warning("Key rotation rolled back: the previous signing key is back in %s.", path)
