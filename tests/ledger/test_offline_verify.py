"""Offline export verifier: a hand-built export with a key rotation verifies; each tampering is named."""

from __future__ import annotations

import base64
import json
import string
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import canonical, merkle, signing
from ledger.verify import EXPORT_FORMAT, verify_export
from tests.fresh_process import python_without_django

ORIGIN = "exchange.example.org/ledger"
ROTATION = datetime(2026, 6, 1, tzinfo=UTC)
KEY_1 = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEY_2 = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))


def _kid(key: Ed25519PrivateKey) -> str:
    return signing.key_id(ORIGIN, signing.public_key_bytes(key))


def _key_line(key: Ed25519PrivateKey, start: datetime, end: datetime | None) -> dict[str, Any]:
    return {
        "type": "key",
        "key_id": _kid(key),
        "public_key": base64.b64encode(signing.public_key_bytes(key)).decode(),
        "valid_from": canonical.format_time(start),
        "valid_until": canonical.format_time(end) if end else None,
    }


def _document(seq: int, when: datetime, **overrides: Any) -> dict[str, Any]:
    document = {
        "v": 1,
        "id": str(uuid.UUID(int=seq + 1, version=4)),
        "kind": "access.granted",
        "time": canonical.format_time(when),
        "actor": {"user": 7, "member": 3, "api_key": None},
        "subject": {"type": "grant", "id": str(100 + seq)},
        "members": [3, 4],
        "payload": {"amount": seq * 10, "note": "Zürich \U0001f600"},
    }
    document.update(overrides)
    return document


def _entry_line(seq: int, document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    data = canonical.canonical_bytes(document)
    digest = canonical.leaf_hash(data)
    return {
        "type": "entry",
        "seq": seq,
        "canonical": base64.b64encode(data).decode(),
        "leaf_hash": digest.hex(),
        "accepted_at": document["time"],
        "key_id": _kid(key),
        "receipt": base64.b64encode(signing.sign_receipt(key, ORIGIN, digest, document["time"])).decode(),
    }


def _checkpoint_line(key: Ed25519PrivateKey, size: int, root: bytes) -> dict[str, Any]:
    return {
        "type": "checkpoint",
        "tree_size": size,
        "root_hash": root.hex(),
        "note": signing.sign_checkpoint(key, ORIGIN, size, root),
        "key_id": _kid(key),
    }


def build_export(size: int = 6) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Entries 0..2 under key 1 (before the rotation), 3.. under key 2; checkpoints at 3 and at the end."""
    entries = []
    for seq in range(size):
        key = KEY_1 if seq < 3 else KEY_2
        when = (ROTATION - timedelta(days=3 - seq)) if seq < 3 else ROTATION + timedelta(hours=seq)
        entries.append(_entry_line(seq, _document(seq, when), key))
    hashes = [bytes.fromhex(e["leaf_hash"]) for e in entries]
    lines = [
        {"type": "header", "format": EXPORT_FORMAT, "origin": ORIGIN, "tree_size": size},
        _key_line(KEY_1, datetime(2026, 1, 1, tzinfo=UTC), ROTATION),
        _key_line(KEY_2, ROTATION, None),
        _checkpoint_line(KEY_1, 3, merkle.mth(hashes[:3])),
        _checkpoint_line(KEY_2, size, merkle.mth(hashes)),
        *entries,
    ]
    return lines, hashes


def _jsonl(lines: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(line) + "\n" for line in lines]


def _entry(lines: list[dict[str, Any]], seq: int) -> dict[str, Any]:
    return next(line for line in lines if line["type"] == "entry" and line["seq"] == seq)


def _checkpoint(lines: list[dict[str, Any]], size: int) -> dict[str, Any]:
    return next(line for line in lines if line["type"] == "checkpoint" and line["tree_size"] == size)


def test_valid_export_with_key_rotation_is_accepted() -> None:
    lines, hashes = build_export()
    report = verify_export(_jsonl(lines))
    assert report.ok, report.failure
    assert (report.entries, report.checkpoints, report.keys) == (6, 2, 2)
    assert report.root == merkle.mth(hashes)
    assert report.summary() == f"OK: 6 entries, 2 checkpoints, 2 keys, root {merkle.mth(hashes).hex()}"
    assert verify_export(line.encode() for line in _jsonl(lines)).ok  # bytes lines, generator


def test_flipped_byte_in_canonical_bytes_names_the_entry() -> None:
    lines, _ = build_export()
    entry = _entry(lines, 4)
    data = bytearray(base64.b64decode(entry["canonical"]))
    data[data.index(b"access.granted")] ^= 0x01  # 'a' -> '`': still canonical JSON, different hash
    entry["canonical"] = base64.b64encode(bytes(data)).decode()
    report = verify_export(_jsonl(lines))
    assert not report.ok
    assert report.failed_seq == 4
    assert report.failure.startswith("FAIL at seq 4: leaf_hash")


def test_non_canonical_json_is_refused_even_with_a_matching_hash() -> None:
    lines, _ = build_export()
    entry = _entry(lines, 1)
    data = json.dumps(json.loads(base64.b64decode(entry["canonical"]))).encode()  # spaces, ASCII escapes
    entry["canonical"] = base64.b64encode(data).decode()
    entry["leaf_hash"] = canonical.leaf_hash(data).hex()
    report = verify_export(_jsonl(lines))
    assert report.failure.startswith("FAIL at seq 1: canonical bytes are not canonical")


def test_bad_receipt_names_the_entry() -> None:
    lines, _ = build_export()
    entry = _entry(lines, 2)
    signature = bytearray(base64.b64decode(entry["receipt"]))
    signature[10] ^= 0x40
    entry["receipt"] = base64.b64encode(bytes(signature)).decode()
    report = verify_export(_jsonl(lines))
    assert report.failure.startswith("FAIL at seq 2: receipt signature does not verify")
    assert report.failed_seq == 2


def test_receipt_by_a_retired_key_is_refused() -> None:
    lines, _ = build_export()
    document = json.loads(base64.b64decode(_entry(lines, 4)["canonical"]))
    lines[lines.index(_entry(lines, 4))] = _entry_line(4, document, KEY_1)  # valid signature, wrong window
    report = verify_export(_jsonl(lines))
    assert report.failure.startswith("FAIL at seq 4: accepted_at")
    assert "validity window" in report.failure


def test_checkpoint_with_a_different_root_fails() -> None:
    lines, hashes = build_export()
    wrong = merkle.mth(hashes[:2])
    # Validly signed, but not the root of the entries.
    lines[lines.index(_checkpoint(lines, 3))] = _checkpoint_line(KEY_1, 3, wrong)
    report = verify_export(_jsonl(lines))
    assert report.failure.startswith("FAIL checkpoint 3: signed root")


def test_checkpoint_note_and_fields_must_agree() -> None:
    lines, hashes = build_export()
    _checkpoint(lines, 6)["root_hash"] = merkle.mth(hashes[:5]).hex()
    assert (
        verify_export(_jsonl(lines)).failure == "FAIL checkpoint 6: root_hash does not match the signed note"
    )
    lines, _ = build_export()
    _checkpoint(lines, 3)["key_id"] = _kid(KEY_2)
    assert verify_export(_jsonl(lines)).failure.startswith("FAIL checkpoint 3: note does not verify")


def test_checkpoint_after_its_entries_is_refused() -> None:
    lines, _ = build_export()
    checkpoint = _checkpoint(lines, 3)
    lines.remove(checkpoint)
    lines.append(checkpoint)
    assert verify_export(_jsonl(lines)).failure.startswith("FAIL checkpoint 3: appears after the entries")


def test_gap_and_truncation_are_named() -> None:
    lines, _ = build_export()
    lines.remove(_entry(lines, 2))
    report = verify_export(_jsonl(lines))
    assert report.failure.startswith("FAIL at seq 2: expected seq 2, found 3")
    lines, _ = build_export()
    lines.remove(_entry(lines, 5))
    lines.remove(_checkpoint(lines, 6))
    assert verify_export(_jsonl(lines)).failure.startswith("FAIL at seq 5: the export ends after 5 entries")


def test_entry_version_must_be_1() -> None:
    lines, _ = build_export()
    when = datetime.fromisoformat(_entry(lines, 0)["accepted_at"])
    lines[lines.index(_entry(lines, 0))] = _entry_line(0, _document(0, when, v=2), KEY_1)
    assert verify_export(_jsonl(lines)).failure == 'FAIL at seq 0: entry is not an object with "v":1'


def test_structural_problems() -> None:
    lines, _ = build_export()
    assert verify_export(_jsonl(lines[1:])).failure == "FAIL line 1: the first line must be the header"
    assert verify_export(["{not json\n"]).failure == "FAIL line 1: not valid JSON"
    assert verify_export([]).failure.startswith("FAIL line 0: the export is empty")
    lines[1]["key_id"] = "00000000"
    assert verify_export(_jsonl(lines)).failure.startswith("FAIL key 00000000: key_id does not match")


def test_a_line_has_one_encoding_no_repeated_name_and_canonical_base64() -> None:
    """Other parsers keep a repeated name's first value and may decode sloppy base64 differently: the
    verifier refuses both rather than vouch for bytes another tool would read otherwise."""
    lines, _ = build_export()
    text = _jsonl(lines)
    first_entry = next(i for i, line in enumerate(lines) if line["type"] == "entry")
    text[first_entry] = text[first_entry].replace('{"type": "entry"', '{"type": "entry", "seq": 9', 1)
    assert verify_export(text).failure == f"FAIL line {first_entry + 1}: a name repeats in one object"
    entry = _entry(lines, 2)
    receipt = entry["receipt"]  # 64 bytes: "==" and 4 unused bits in the last character before it
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
    entry["receipt"] = receipt[:-3] + alphabet[alphabet.index(receipt[-3]) ^ 1] + "=="
    assert base64.b64decode(entry["receipt"]) == base64.b64decode(receipt)
    report = verify_export(_jsonl(lines))
    assert report.failure.startswith("FAIL at seq 2: receipt is not valid base64: non-canonical base64")


def _resign_checkpoints(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checkpoints signed again (by the same keys) over the entries as they now are."""
    hashes = [bytes.fromhex(line["leaf_hash"]) for line in lines if line["type"] == "entry"]
    keys = {_kid(KEY_1): KEY_1, _kid(KEY_2): KEY_2}
    return [
        _checkpoint_line(keys[line["key_id"]], line["tree_size"], merkle.mth(hashes[: line["tree_size"]]))
        if line["type"] == "checkpoint"
        else line
        for line in lines
    ]


@pytest.mark.parametrize(("key", "ok"), [(KEY_1, False), (KEY_2, True)])
def test_a_key_is_valid_up_to_but_not_at_its_valid_until(key, ok) -> None:
    lines, _ = build_export()
    lines[lines.index(_entry(lines, 3))] = _entry_line(3, _document(3, ROTATION), key)
    report = verify_export(_jsonl(_resign_checkpoints(lines)))
    assert report.ok == ok
    if not ok:
        assert report.failure.startswith("FAIL at seq 3: accepted_at 2026-06-01T00:00:00.000000Z is outside")


@pytest.mark.parametrize(
    ("change", "failure"),
    [
        ({"tree_size": True}, "FAIL line 1: tree_size must be a non-negative integer"),
        ({"tree_size": -1}, "FAIL line 1: tree_size must be a non-negative integer"),
        ({"format": "consortium-exchange-ledger-export/v2"}, "FAIL line 1: format"),
        ({"origin": "exchange example"}, "FAIL line 1: invalid origin 'exchange example'"),
    ],
)
def test_a_bad_header_is_named(change, failure) -> None:
    lines, _ = build_export(1)
    lines = [line for line in lines if not (line["type"] == "checkpoint" and line["tree_size"] == 3)]
    assert verify_export(_jsonl(lines)).ok
    lines[0].update(change)
    assert verify_export(_jsonl(lines)).failure.startswith(failure)


def test_a_second_header_and_more_entries_than_the_header_declares_are_refused() -> None:
    lines, _ = build_export()
    lines.insert(1, dict(lines[0]))
    assert verify_export(_jsonl(lines)).failure == "FAIL line 2: a second header"
    lines, _ = build_export()
    lines.remove(_checkpoint(lines, 6))
    lines[0]["tree_size"] = 5
    report = verify_export(_jsonl(lines))
    assert report.failure == "FAIL at seq 6: the export ends after 6 entries but its header says tree_size 5"


def test_bad_key_lines_are_named_even_for_keys_no_entry_uses() -> None:
    extra = Ed25519PrivateKey.from_private_bytes(bytes(range(64, 96)))
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    short = {**_key_line(extra, moment, None), "key_id": "0badc0de"}
    short["public_key"] = base64.b64encode(signing.public_key_bytes(extra)[:31]).decode()
    cases = [
        (_key_line(extra, moment, moment), f"FAIL key {_kid(extra)}: valid_until is not after valid_from"),
        (_key_line(KEY_2, moment, None), f"FAIL key {_kid(KEY_2)}: published twice"),
        (short, "FAIL key 0badc0de: public_key is not 32 bytes"),
    ]
    for key_line, failure in cases:
        lines, _ = build_export()
        lines.insert(3, key_line)
        assert verify_export(_jsonl(lines)).failure == failure


def test_trusted_keys_are_matched_by_their_bytes_not_only_their_id() -> None:
    lines, _ = build_export()
    public_1, public_2 = signing.public_key_bytes(KEY_1), signing.public_key_bytes(KEY_2)
    assert verify_export(_jsonl(lines), {_kid(KEY_1): public_1, _kid(KEY_2): public_2}).ok
    report = verify_export(_jsonl(lines), {_kid(KEY_1): public_2, _kid(KEY_2): public_2})
    assert report.failure == f"FAIL key {_kid(KEY_1)}: not among the trusted keys given with --trusted-key"


def test_a_checkpoint_beyond_the_header_is_named_where_it_stands() -> None:
    lines, hashes = build_export()
    lines[lines.index(_checkpoint(lines, 6))] = _checkpoint_line(KEY_2, 7, merkle.mth(hashes))
    assert verify_export(_jsonl(lines)).failure == "FAIL checkpoint 7: larger than the header's tree_size 6"


def test_an_entry_after_the_credit_transfers_is_refused() -> None:
    lines, _ = build_export()
    lines.insert(len(lines) - 1, {"type": "credit_transfer", "id": "00" * 16})
    assert verify_export(_jsonl(lines)).failure == (
        f"FAIL line {len(lines)}: an entry after the credit transfers"
    )


def test_a_seq_must_be_an_integer_not_true() -> None:
    lines, _ = build_export()
    _entry(lines, 1)["seq"] = True
    assert verify_export(_jsonl(lines)).failure.startswith("FAIL at seq 1: expected seq 1, found True")


def test_a_signed_accepted_at_other_than_the_entrys_time_is_refused() -> None:
    lines, _ = build_export()
    entry = _entry(lines, 2)
    later = canonical.format_time(datetime.fromisoformat(entry["accepted_at"]) + timedelta(seconds=1))
    receipt = signing.sign_receipt(KEY_1, ORIGIN, bytes.fromhex(entry["leaf_hash"]), later)
    entry.update(accepted_at=later, receipt=base64.b64encode(receipt).decode())
    report = verify_export(_jsonl(lines))
    assert report.failure.startswith(f"FAIL at seq 2: accepted_at {later} differs from the entry's time")


def test_a_checkpoint_whose_note_signs_another_size_is_refused() -> None:
    lines, hashes = build_export()
    checkpoint = _checkpoint(lines, 3)
    checkpoint["note"] = signing.sign_checkpoint(KEY_1, ORIGIN, 4, merkle.mth(hashes[:3]))
    assert verify_export(_jsonl(lines)).failure == "FAIL checkpoint 3: the signed note says size 4"


def test_every_checkpoint_of_one_size_is_checked() -> None:
    lines, hashes = build_export()
    lines.insert(4, _checkpoint_line(KEY_2, 3, merkle.mth(hashes[:3])))  # a second, valid signer
    report = verify_export(_jsonl(lines))
    assert report.ok and report.checkpoints == 3
    lines[4] = _checkpoint_line(KEY_2, 3, merkle.mth(hashes[:2]))
    assert verify_export(_jsonl(lines)).failure.startswith("FAIL checkpoint 3: signed root")


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return python_without_django(*args, timeout=60)


def test_command_line_needs_no_django(tmp_path: Path) -> None:
    lines, hashes = build_export()
    good = tmp_path / "good.jsonl"
    good.write_text("".join(_jsonl(lines)), encoding="utf-8")
    result = _run_cli("-m", "ledger.verify", str(good))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"OK: 6 entries, 2 checkpoints, 2 keys, root {merkle.mth(hashes).hex()}\n"

    # Same run with Django and rfc8785 made unimportable: the verifier must not touch them.
    blocked = (
        "import runpy, sys\n"
        "for name in ('django', 'rfc8785'):\n    sys.modules[name] = None\n"
        f"sys.argv = ['ledger.verify', {str(good)!r}]\n"
        "runpy.run_module('ledger.verify', run_name='__main__')\n"
    )
    result = _run_cli("-c", blocked)
    assert result.returncode == 0, result.stdout + result.stderr

    _entry(lines, 3)["leaf_hash"] = "00" * 32
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(_jsonl(lines)), encoding="utf-8")
    result = _run_cli("-m", "ledger.verify", str(bad))
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL at seq 3: leaf_hash")


def test_rules_replay_needs_a_file_not_standard_input() -> None:
    result = _run_cli("-m", "ledger.verify", "-", "--rules-replay")
    assert result.returncode == 2
    assert "give a file" in result.stderr


@pytest.mark.parametrize("size", [0, 1, 40])
def test_sizes_including_empty(size: int) -> None:
    lines, hashes = build_export(size)
    if size < 3:
        lines = [line for line in lines if not (line["type"] == "checkpoint" and line["tree_size"] == 3)]
    report = verify_export(_jsonl(lines))
    assert report.ok, report.failure
    assert report.root == merkle.mth(hashes)
