"""Operators' commands: ledger_verify, ledger_export + the offline verifier, ledger_rotate_key, beat tasks."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ledger import merkle, tree
from ledger.models import Checkpoint, LedgerEntry, LedgerLeaf, SigningKey
from ledger.services import checkpoint_issue, ledger_append, ledger_sequence
from ledger.tasks import issue_checkpoint_task, sequence_ledger_task
from tests.fresh_process import python_without_django
from tests.ledger_support import ledger_triggers_dropped

pytestmark = pytest.mark.django_db


def append(n: int) -> None:
    for i in range(n):
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=i, payload={"n": i})
    ledger_sequence()


def offline_verify(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """python -m ledger.verify in a process that has no Django settings at all."""
    return python_without_django("-m", "ledger.verify", str(path), *options)


def test_ledger_verify_command_passes_and_then_names_the_tampered_entry() -> None:
    append(9)
    checkpoint_issue()
    out = StringIO()
    call_command("ledger_verify", "--full", "--workers", "1", "--no-progress", stdout=out)
    assert out.getvalue().startswith("OK (full): 9 entries")
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        victim = LedgerLeaf.objects.get(seq=4).entry_id
        cursor.execute("UPDATE ledger_ledgerentry SET leaf_hash = %s WHERE id = %s", [bytes(32), victim])
    with pytest.raises(CommandError, match=r"FAILED at seq 4: leaf hash"):
        call_command("ledger_verify", "--no-progress")


def test_ledger_verify_resumes_from_a_trusted_checkpoint() -> None:
    append(6)
    checkpoint_issue()
    append(5)
    checkpoint_issue()
    out = StringIO()
    call_command("ledger_verify", "--from-checkpoint", "6", "--no-progress", stdout=out)
    assert "OK (fast): 5 entries from size 6" in out.getvalue()
    with pytest.raises(CommandError, match="no checkpoint of size 7"):
        call_command("ledger_verify", "--from-checkpoint", "7", "--no-progress")


class _Terminal(StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("options", "bar"),
    [((), "9/9"), (("--full", "--workers", "1"), "9/9"), (("--from-checkpoint", "6"), "3/3")],
)
def test_ledger_verify_shows_its_progress_on_a_terminal(monkeypatch, options, bar) -> None:
    """Every entry verified moves the bar (tqdm draws it only on a terminal; --no-progress never)."""
    append(6)
    checkpoint_issue()
    append(3)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    call_command("ledger_verify", *options, stdout=StringIO())
    assert f"| {bar} [" in terminal.getvalue()
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    call_command("ledger_verify", *options, "--no-progress", stdout=StringIO())
    assert quiet.getvalue() == ""


def test_demo_export_verifies_offline_and_a_flipped_byte_is_rejected(tmp_path, settings) -> None:
    settings.DEBUG = True  # the demo seeds only in development
    call_command("seed_demo", stdout=StringIO())
    ledger_sequence()
    checkpoint_issue()
    export = tmp_path / "ledger.jsonl"
    call_command("ledger_export", str(export), stderr=StringIO())
    accepted = offline_verify(export)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    size = tree.tree_size()
    assert accepted.stdout.startswith(f"OK: {size} entries")

    lines = export.read_text().splitlines()
    victim = next(i for i, line in enumerate(lines) if json.loads(line).get("seq") == size // 2)
    record = json.loads(lines[victim])
    data = bytearray(base64.b64decode(record["canonical"]))
    data[data.index(b'"kind"') + 9] ^= 0x01  # one byte inside the kind's value
    record["canonical"] = base64.b64encode(bytes(data)).decode()
    lines[victim] = json.dumps(record)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    rejected = offline_verify(tampered)
    assert rejected.returncode == 1
    assert f"FAIL at seq {size // 2}" in rejected.stdout + rejected.stderr


def test_rotate_key_command_keeps_old_signatures_verifiable() -> None:
    append(3)
    checkpoint_issue()
    out = StringIO()
    call_command("ledger_rotate_key", stdout=out)
    assert "new signing key" in out.getvalue()
    append(2)
    call_command("ledger_verify", "--full", "--workers", "1", "--no-progress", stdout=StringIO())
    keys = list(SigningKey.objects.order_by("valid_from"))
    assert len(keys) == 2
    assert LedgerEntry.objects.filter(kind="key.rotated", subject_id=keys[1].key_id).exists()
    old_checkpoint, new_checkpoint = Checkpoint.objects.order_by("tree_size")[:2]
    assert old_checkpoint.key_id == keys[0].key_id and new_checkpoint.key_id == keys[1].key_id


def test_a_key_file_replaced_by_another_process_is_signed_with_within_a_second(
    ledger_signing_key, monkeypatch
) -> None:
    """Every append asks for the signer; the key file is looked at again at most once a second (well
    within ROTATION_GRACE), so a rotation by another process (which cannot clear this one's cache) is
    picked up that soon."""
    from ledger import keys, signing

    now = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: now[0])
    first = keys.active_signer()
    keys.active_signer()  # now published, so cached (a key first published in a transaction is not)
    keys.write_private_key(ledger_signing_key, signing.generate_private_key_pem())  # the other process
    now[0] += keys.FILE_RECHECK_SECONDS / 2
    assert keys.active_signer().key_id == first.key_id
    now[0] += keys.FILE_RECHECK_SECONDS
    assert keys.active_signer().key_id != first.key_id


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_verify_refuses_a_worker_count_below_one(workers) -> None:
    with pytest.raises(CommandError, match="--workers must be 1 or more"):
        call_command("ledger_verify", "--full", f"--workers={workers}", "--no-progress", stdout=StringIO())


def test_a_rotation_whose_checkpoint_fails_says_the_key_was_rotated(monkeypatch) -> None:
    from ledger.services import ForkDetected

    def refuses() -> None:
        raise ForkDetected("Size 3 is not consistent with the checkpoint of size 2.")

    monkeypatch.setattr("ledger.management.commands.ledger_rotate_key.checkpoint_issue", refuses)
    with pytest.raises(CommandError, match=r"was rotated \(new key \w+\), but no checkpoint .* size 2"):
        call_command("ledger_rotate_key", stdout=StringIO())
    assert SigningKey.objects.count() == 2  # the rotation stands: a second one is not needed


def test_rotation_is_refused_when_the_key_comes_from_the_environment(settings_for_env_key) -> None:
    with pytest.raises(CommandError, match="LEDGER_SIGNING_KEY"):
        call_command("ledger_rotate_key", stdout=StringIO())


@pytest.fixture
def settings_for_env_key(settings):
    from ledger import keys, signing

    _key_setting(settings, SIGNING_KEY_PEM=signing.generate_private_key_pem().decode())
    yield
    keys.forget_cached_signer()


def test_beat_runs_the_sequencer_and_checkpoints_on_schedule() -> None:
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"ledger.sequence_ledger_task", "ledger.issue_checkpoint_task"} <= schedule
    for i in range(4):
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=i, payload={})
    assert sequence_ledger_task.delay().get() == 4
    assert issue_checkpoint_task.delay().get() == 4
    assert Checkpoint.objects.get().tree_size == 4


@hypothesis_settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.integers(min_value=1, max_value=70), pick=st.integers(0, 10**6), pick_old=st.integers(0, 10**6)
)
def test_stored_tree_proofs_match_the_reference_for_random_sizes(size: int, pick: int, pick_old: int) -> None:
    """The database is shared by all examples, so the tree grows from example to example."""
    append(size)
    total = tree.tree_size()
    hashes = [bytes(h) for h in LedgerLeaf.objects.order_by("seq").values_list("entry__leaf_hash", flat=True)]
    index, old = pick % total, 1 + pick_old % total
    assert tree.root_hash(total) == merkle.mth(hashes)
    assert merkle.verify_inclusion(
        hashes[index], index, total, tree.inclusion_proof(index, total), merkle.mth(hashes)
    )
    assert merkle.verify_consistency(
        old, total, merkle.mth(hashes[:old]), merkle.mth(hashes), tree.consistency_proof(old, total)
    )


def test_offline_verifier_pins_keys_obtained_out_of_band(tmp_path) -> None:
    """With --trusted-key an export signed by any other key is refused, however consistent it is."""
    from ledger import keys, signing

    append(3)
    checkpoint_issue()
    export = tmp_path / "ledger.jsonl"
    call_command("ledger_export", str(export), stderr=StringIO())
    published = keys.active_signer()
    ours = signing.verifier_key(keys.origin(), published.public_key)
    assert offline_verify(export, "--trusted-key", ours).returncode == 0
    stranger_public = signing.public_key_bytes(
        signing.load_private_key_pem(signing.generate_private_key_pem())
    )
    stranger = signing.verifier_key(keys.origin(), stranger_public)
    refused = offline_verify(export, "--trusted-key", stranger)
    assert refused.returncode == 1 and "not among the trusted keys" in refused.stdout
    assert offline_verify(export, "--trusted-key", "garbage").returncode == 2


def _key_setting(settings, **values) -> None:
    from ledger import keys

    settings.LEDGER = {**settings.LEDGER, **values}
    keys.forget_cached_signer()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda tmp: {"SIGNING_KEY_PATH": str(tmp / "none.pem"), "GENERATE_DEV_KEY": False},
            "No ledger signing key",
        ),
        (
            lambda tmp: {"SIGNING_KEY_PATH": str(tmp)},
            "Cannot read the ledger signing key at .*: Is a directory",
        ),
        (
            lambda tmp: {"SIGNING_KEY_PATH": str(_garbage(tmp))},
            "The ledger signing key at .*garbage.pem is not an unencrypted Ed25519 PEM private key",
        ),
        (lambda tmp: {"SIGNING_KEY_PEM": "garbage"}, "The ledger signing key at LEDGER_SIGNING_KEY is not"),
    ],
)
def test_a_missing_or_unreadable_signing_key_is_a_command_error(tmp_path, settings, setup, message) -> None:
    """ledger_checkpoint (with something to sign) and ledger_rotate_key name the key's problem."""
    append(2)
    _key_setting(settings, **setup(tmp_path))
    with pytest.raises(CommandError, match=message):
        call_command("ledger_checkpoint", stdout=StringIO())
    if not settings.LEDGER["SIGNING_KEY_PEM"]:  # a key from the environment is refused before it is read
        with pytest.raises(CommandError, match=message):
            call_command("ledger_rotate_key", stdout=StringIO())
    assert not Checkpoint.objects.exists()


def _garbage(directory: Path) -> Path:
    path = directory / "garbage.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    return path


def test_a_fork_is_a_command_error_not_a_traceback() -> None:
    append(3)
    checkpoint_issue()
    append(1)
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        cursor.execute('UPDATE ledger_ledgernode SET hash = %s WHERE level = 1 AND "index" = 0', [bytes(32)])
    with pytest.raises(CommandError, match="differs from the signed checkpoint"):
        call_command("ledger_checkpoint", stdout=StringIO())


def test_a_failed_export_leaves_the_previous_file_and_no_partial_one(tmp_path, monkeypatch) -> None:
    """The export is written beside the target and renamed over it once complete."""
    from ledger import export

    append(3)
    checkpoint_issue()
    out = tmp_path / "out"  # tmp_path holds the signing key
    out.mkdir()
    target = out / "ledger.jsonl"
    target.write_text("previous export\n")
    real_write = export.write_export

    def fails_half_way(out) -> int:
        real_write(out)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ledger.management.commands.ledger_export.write_export", fails_half_way)
    with pytest.raises(CommandError, match=f"Cannot write {target}: No space left on device"):
        call_command("ledger_export", str(target), stderr=StringIO())
    assert target.read_text() == "previous export\n"
    assert sorted(p.name for p in out.iterdir()) == ["ledger.jsonl"]
    monkeypatch.undo()
    call_command("ledger_export", str(target), stderr=StringIO())
    assert offline_verify(target).returncode == 0


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("umask_022")
def test_an_export_keeps_a_replaced_files_mode_and_follows_a_link(tmp_path) -> None:
    ledger_append(kind="test.event", actor=None, subject_type="x", subject_id=1, payload={"n": 1})
    ledger_sequence()
    checkpoint_issue()
    out = tmp_path / "out"  # tmp_path holds the signing key
    out.mkdir()
    fresh = out / "fresh.jsonl"
    call_command("ledger_export", str(fresh), stderr=StringIO())
    assert fresh.stat().st_mode & 0o777 == 0o644  # a new file's mode under the umask
    private = out / "private.jsonl"
    private.write_text("previous export\n")
    private.chmod(0o600)
    link = out / "latest.jsonl"
    link.symlink_to(private)
    call_command("ledger_export", str(link), stderr=StringIO())
    assert link.is_symlink() and link.resolve() == private  # the link kept, its target replaced
    assert private.stat().st_mode & 0o777 == 0o600  # an export made private stays private
    assert offline_verify(private).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["fresh.jsonl", "latest.jsonl", "private.jsonl"]


@pytest.mark.parametrize("where", ["directory", "no parent", "parent is a file", "empty"])
def test_export_to_a_path_it_cannot_write_is_a_command_error(tmp_path, where) -> None:
    tmp_path = tmp_path / "out"  # tmp_path holds the signing key
    tmp_path.mkdir()
    (tmp_path / "file").write_text("")
    path = {
        "directory": str(tmp_path),
        "no parent": str(tmp_path / "missing" / "x.jsonl"),
        "parent is a file": str(tmp_path / "file" / "x.jsonl"),
        "empty": "",
    }[where]
    with pytest.raises(CommandError, match="Cannot write "):
        call_command("ledger_export", path, stderr=StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_export_to_an_empty_path_says_the_path_is_empty(tmp_path, monkeypatch) -> None:
    """'' resolves to the working directory, so the refusal used to read "Cannot write '': Is a
    directory", naming a directory the operator never typed."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CommandError) as refused:
        call_command("ledger_export", "", stderr=StringIO())
    assert str(refused.value) == "Cannot write '': PATH is empty; name a file, or '-' for standard output."
