"""A key rotation that does not commit leaves the signing key as it was: the file, the published keys, the
ledger. The new key file is written before the `key.rotated` entry (its receipt is signed by the new key,
docs/ledger-format.md section 10.4), so a failure after that must put the previous key back."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import DatabaseError, connection

import ledger.services.after_commit
import ledger.services.key_rotation
from ledger import keys, signing
from ledger.models import LedgerEntry, SigningKey
from ledger.services import signing_key_rotate
from tests.failure_injection import InjectedFailure, failing_after, nothing_left, nothing_left_at_commit


def _key_files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)}


def _signs_with_the_old_key(path: Path, before: dict[str, bytes], old_key_id: str) -> None:
    assert _key_files(path) == before  # no new key, no retired copy
    keys.forget_cached_signer()  # as another process, or this one after a restart, reads it
    assert keys.active_signer().key_id == old_key_id
    assert list(SigningKey.objects.values_list("key_id", flat=True)) == [old_key_id]
    assert not LedgerEntry.objects.filter(kind="key.rotated").exists()


@pytest.mark.django_db
def test_a_rotation_failing_after_its_entry_keeps_the_old_key(
    ledger_signing_key, django_capture_on_commit_callbacks
) -> None:
    old = keys.active_signer().key_id
    before = _key_files(ledger_signing_key)
    nothing_left(signing_key_rotate, "key.rotated", capture=django_capture_on_commit_callbacks)
    _signs_with_the_old_key(ledger_signing_key, before, old)


@pytest.mark.django_db(transaction=True)
def test_a_rotation_whose_commit_fails_keeps_the_old_key(ledger_signing_key) -> None:
    old = keys.active_signer().key_id
    before = _key_files(ledger_signing_key)
    nothing_left_at_commit(signing_key_rotate)
    _signs_with_the_old_key(ledger_signing_key, before, old)
    signing_key_rotate()  # and the next rotation works
    assert LedgerEntry.objects.filter(kind="key.rotated").count() == 1


class WorkerTimeout(BaseException):
    pass


@pytest.mark.django_db(transaction=True)
def test_an_interrupt_after_the_rotation_committed_keeps_the_new_key(ledger_signing_key, monkeypatch) -> None:
    old = keys.active_signer().key_id

    def interrupted() -> None:
        raise WorkerTimeout

    monkeypatch.setattr(ledger.services.after_commit, "_sequencing_due", lambda now: True)
    monkeypatch.setattr(ledger.services.after_commit, "request_sequencing", interrupted)
    with pytest.raises(WorkerTimeout):
        signing_key_rotate()
    monkeypatch.undo()
    rotated = LedgerEntry.objects.get(kind="key.rotated")
    keys.forget_cached_signer()
    assert keys.active_signer().key_id == rotated.subject_id != old
    assert (ledger_signing_key.parent / f"{ledger_signing_key.name}.retired-{old}").exists()


@pytest.mark.django_db
def test_a_rotation_failing_before_its_new_key_is_written_changes_nothing(
    ledger_signing_key, monkeypatch
) -> None:
    old = keys.active_signer().key_id
    before = _key_files(ledger_signing_key)
    monkeypatch.setattr(ledger.services.key_rotation, "_wait_for_sequencer_lock", _fails)
    with pytest.raises(DatabaseError):
        signing_key_rotate()
    assert not connection.needs_rollback
    _signs_with_the_old_key(ledger_signing_key, before, old)


def _fails() -> None:
    raise DatabaseError("the lock could not be taken")


@pytest.mark.django_db
def test_a_rolled_back_rotation_keeps_a_new_key_another_process_already_signs_with(
    ledger_signing_key, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """Another process read the new file and published the key before this one's rotation failed: the
    previous key's receipts from now on would fall outside its window, so the new key stays."""
    keys.active_signer()
    new_pem = signing.generate_private_key_pem()
    monkeypatch.setattr(signing, "generate_private_key_pem", lambda: new_pem)
    new_key = signing.load_private_key_pem(new_pem)
    adopted = keys.Signer(
        key_id=signing.key_id(keys.origin(), signing.public_key_bytes(new_key)),
        public_key=signing.public_key_bytes(new_key),
        private_key=new_key,
    )
    keys.register_public_key(adopted)  # as the other process did
    with failing_after("key.rotated"), pytest.raises(InjectedFailure):
        signing_key_rotate()
    assert ledger_signing_key.read_bytes() == new_pem
    keys.forget_cached_signer()
    assert keys.active_signer().key_id == adopted.key_id
