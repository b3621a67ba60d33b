"""The embedded default's signing key: generated into var/ on first use, readable by its owner only, and
never written to the database or the log (production must provide its own)."""

from __future__ import annotations

import base64
import logging
import re
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import CommandError, call_command

from ledger import keys, signing
from ledger.keys import SigningKeyUnavailable
from ledger.models import Checkpoint, LedgerEntry, SigningKey
from ledger.services import checkpoint_issue, ledger_append, signing_key_rotate
from ledger.verification import verify_database
from tests.consortium.test_settings import PRODUCTION, load_settings


def test_only_the_embedded_default_generates_a_key_and_it_goes_into_var(monkeypatch, tmp_path) -> None:
    embedded = load_settings(monkeypatch, tmp_path)["LEDGER"]
    assert embedded["GENERATE_DEV_KEY"] is True
    assert Path(embedded["SIGNING_KEY_PATH"]) == tmp_path / "var" / "ledger-signing-key.pem"
    assert load_settings(monkeypatch, tmp_path, **PRODUCTION)["LEDGER"]["GENERATE_DEV_KEY"] is False


def _private_forms(path: Path) -> list[bytes]:
    """The key file's PEM body and raw 32 private bytes, each as stored or logged text could hold them."""
    pem = path.read_bytes()
    raw = signing.load_private_key_pem(pem).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    body = b"".join(pem.splitlines()[1:-1])
    return [body, raw, raw.hex().encode(), base64.b64encode(raw)]


@pytest.mark.django_db
def test_a_generated_or_rotated_key_is_owner_only_and_never_stored_or_logged(
    ledger_signing_key, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    assert not ledger_signing_key.exists()
    ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=1, payload={})
    assert ledger_signing_key.stat().st_mode & 0o777 == 0o600
    secrets = _private_forms(ledger_signing_key)
    previous = keys.active_signer().key_id
    signing_key_rotate()
    retired = ledger_signing_key.with_name(f"{ledger_signing_key.name}.retired-{previous}")
    for path in (ledger_signing_key, retired):
        assert path.stat().st_mode & 0o777 == 0o600, path
    secrets += _private_forms(ledger_signing_key)

    assert f"Generated a development ledger signing key at {ledger_signing_key}" in caplog.text
    stored = [
        bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for model in (SigningKey, LedgerEntry, Checkpoint)
        for row in model.objects.values_list()
        for value in row
    ]
    for secret in secrets:
        assert secret not in caplog.text.encode()
        assert not any(secret in value for value in stored)


@pytest.mark.django_db
def test_a_changed_origin_signs_nothing_and_is_named_by_verify_and_export(settings, tmp_path) -> None:
    """Key ids, receipts and checkpoints are made under the origin: after LEDGER_ORIGIN changes, what is
    signed under the new one no longer verifies with what came before, so nothing is, and the commands say
    why instead of blaming the first checkpoint."""
    ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=1, payload={})
    checkpoint_issue()
    began_with = settings.LEDGER["ORIGIN"]
    settings.LEDGER = {**settings.LEDGER, "ORIGIN": "other.example/ledger"}
    keys.forget_cached_signer()  # as a process started under the new setting

    said = rf"LEDGER_ORIGIN is 'other\.example/ledger', .*published under another origin \('{began_with}'"
    with pytest.raises(SigningKeyUnavailable, match=said):
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=2, payload={})
    with pytest.raises(SigningKeyUnavailable, match=said):
        signing_key_rotate()
    assert (LedgerEntry.objects.count(), SigningKey.objects.count()) == (1, 1)
    report = verify_database()
    assert report.failure is not None and report.failure.seq is None
    assert re.match(said, report.failure.reason)
    with pytest.raises(CommandError, match=said):
        call_command("ledger_export", str(tmp_path / "export.jsonl"), stderr=StringIO())
    assert not (tmp_path / "export.jsonl").exists()

    settings.LEDGER = {**settings.LEDGER, "ORIGIN": began_with}
    keys.forget_cached_signer()
    ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=2, payload={})
    checkpoint_issue()
    assert verify_database(full=True, workers=1).ok
