"""Ed25519 keys, C2SP signed-note checkpoints (Go sumdb/note known answer) and receipts."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import signing
from ledger.signing import (
    SignatureError,
    checkpoint_body,
    generate_private_key_pem,
    key_id,
    load_private_key_pem,
    note_key_hash,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    public_key_bytes,
    receipt_message,
    sign_checkpoint,
    sign_note,
    sign_receipt,
    verifier_key,
    verify_checkpoint,
    verify_receipt,
)

# golang.org/x/mod/sumdb/note's documented example: an independent implementation's exact output.
GO_SIGNER_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # 0x01 || Ed25519 seed
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

ORIGIN = "exchange.example.org/ledger"
ROOT = hashlib.sha256(b"root").digest()
LEAF = hashlib.sha256(b"leaf").digest()
TIME = "2026-11-24T06:49:03.123456Z"


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return load_private_key_pem(generate_private_key_pem())


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _go_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(GO_SIGNER_SEED)[1:])


def test_go_sumdb_note_known_answer() -> None:
    go_key = _go_key()
    pub = public_key_bytes(go_key)
    assert verifier_key("PeterNeumann", pub) == GO_VERIFIER_KEY
    assert key_id("PeterNeumann", pub) == "c74f20a3"
    assert sign_note(go_key, "PeterNeumann", GO_TEXT) == GO_NOTE
    assert open_note(GO_NOTE, *parse_verifier_key(GO_VERIFIER_KEY)) == GO_TEXT


def test_pem_round_trip_and_public_key(key: Ed25519PrivateKey) -> None:
    pem = generate_private_key_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_private_key_pem(pem)
    assert len(public_key_bytes(loaded)) == 32
    assert public_key_bytes(loaded) == public_key_bytes(loaded.public_key())


def test_load_refuses_other_keys_without_echoing_them() -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SignatureError, match="not Ed25519"):
        load_private_key_pem(ec_pem)
    garbage = b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"
    with pytest.raises(SignatureError) as excinfo:
        load_private_key_pem(garbage)
    assert "c2VjcmV0" not in str(excinfo.value)


def test_key_hash_formula(key: Ed25519PrivateKey) -> None:
    pub = public_key_bytes(key)
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + pub).digest()[:4]
    assert note_key_hash(ORIGIN, pub) == expected
    assert key_id(ORIGIN, pub) == expected.hex()
    vkey = verifier_key(ORIGIN, pub)
    encoded = base64.b64encode(bytes([1]) + pub).decode()
    assert vkey == f"{ORIGIN}+{expected.hex()}+{encoded}"
    assert parse_verifier_key(vkey) == (ORIGIN, pub)
    with pytest.raises(SignatureError):
        parse_verifier_key(vkey.replace(f"+{expected.hex()}+", "+00000000+"))
    for bad_name in ["", "a b", "a+b", "a\tb", "a\u00a0b"]:
        with pytest.raises(SignatureError):
            note_key_hash(bad_name, pub)


def test_checkpoint_format(key: Ed25519PrivateKey) -> None:
    body = checkpoint_body(ORIGIN, 42, ROOT)
    assert body == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n"
    note = sign_checkpoint(key, ORIGIN, 42, ROOT)
    assert note.startswith(body + "\n\u2014 " + ORIGIN + " ")
    assert note.endswith("\n")
    blob = base64.b64decode(note[len(body) + 1 :].split(" ")[-1])
    assert blob[:4] == note_key_hash(ORIGIN, public_key_bytes(key))
    # The signature is plain Ed25519 over the body bytes, checkable without our code.
    Ed25519PublicKey.from_public_bytes(public_key_bytes(key)).verify(blob[4:], body.encode())


def test_checkpoint_round_trip(key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint(key, ORIGIN, 7, ROOT)
    checkpoint = verify_checkpoint(note, ORIGIN, public_key_bytes(key), origin=ORIGIN)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (ORIGIN, 7, ROOT)
    [(name, key_hash, sig)] = checkpoint.signatures
    assert name == ORIGIN and key_hash == note_key_hash(ORIGIN, public_key_bytes(key)) and len(sig) == 64
    assert parse_checkpoint(note) == checkpoint


def test_checkpoint_wrong_key_or_name_fails(key: Ed25519PrivateKey, other_key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint(key, ORIGIN, 7, ROOT)
    with pytest.raises(SignatureError):
        verify_checkpoint(note, ORIGIN, public_key_bytes(other_key))
    with pytest.raises(SignatureError):
        verify_checkpoint(note, "someone.else/log", public_key_bytes(key))
    with pytest.raises(SignatureError, match="origin"):
        verify_checkpoint(note, ORIGIN, public_key_bytes(key), origin="other.example/log")


def test_every_flipped_byte_fails(key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint(key, ORIGIN, 7, ROOT)
    pub = public_key_bytes(key)
    raw = note.encode()
    for i in range(len(raw)):
        mutated = bytearray(raw)
        mutated[i] ^= 0x01
        try:
            text = mutated.decode("utf-8")
        except UnicodeDecodeError:
            continue
        with pytest.raises(SignatureError):
            verify_checkpoint(text, ORIGIN, pub)


def test_cosigned_note_verifies_under_each_key(key: Ed25519PrivateKey, other_key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint(key, ORIGIN, 7, ROOT)
    witness = sign_note(other_key, "witness.example", checkpoint_body(ORIGIN, 7, ROOT))
    cosigned = note + witness.split("\n\n", 1)[1]
    assert len(parse_checkpoint(cosigned).signatures) == 2
    verify_checkpoint(cosigned, ORIGIN, public_key_bytes(key))
    verify_checkpoint(cosigned, "witness.example", public_key_bytes(other_key), origin=ORIGIN)


def _flip_last_signature_byte(line: str) -> str:
    prefix, b64 = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    return f"{prefix} {base64.b64encode(bytes(raw)).decode()}"


def test_a_failing_signature_by_the_key_rejects_the_note_as_go_note_open_does(key: Ed25519PrivateKey) -> None:
    """C2SP signed-note / Go's note.Open: the first line by a known key decides; a bad one rejects the note
    even when a good line by the same key follows (later lines by that key are ignored)."""
    note = sign_checkpoint(key, ORIGIN, 7, ROOT)
    body, good = note.split("\n\n", 1)
    bad = _flip_last_signature_byte(good.rstrip("\n")) + "\n"
    with pytest.raises(SignatureError, match="invalid signature"):
        verify_checkpoint(f"{body}\n\n{bad}{good}", ORIGIN, public_key_bytes(key))
    assert verify_checkpoint(f"{body}\n\n{good}{bad}", ORIGIN, public_key_bytes(key)).size == 7


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n[:-1],  # no final newline
        lambda n: n.replace("\n\n", "\n"),  # no blank line
        lambda n: n.replace("\u2014", "-"),  # hyphen instead of EM DASH
        lambda n: n.replace("\n7\n", "\n07\n"),  # leading zero
        lambda n: n.replace("\n7\n", "\n\x007\n"),  # control character
        lambda n: n.split("\n\n")[0] + "\n\n",  # no signature
    ],
)
def test_malformed_notes_are_refused(key: Ed25519PrivateKey, mangle) -> None:
    note = sign_checkpoint(key, ORIGIN, 7, ROOT)
    with pytest.raises(SignatureError):
        verify_checkpoint(mangle(note), ORIGIN, public_key_bytes(key))


def test_checkpoint_extension_lines_are_kept() -> None:
    go_key = _go_key()
    body = checkpoint_body("PeterNeumann", 3, ROOT) + "Timestamp: 1\n"
    checkpoint = verify_checkpoint(
        sign_note(go_key, "PeterNeumann", body), "PeterNeumann", public_key_bytes(go_key)
    )
    assert checkpoint.extensions == ("Timestamp: 1",)


def test_receipt_message_bytes(key: Ed25519PrivateKey) -> None:
    kid = key_id(ORIGIN, public_key_bytes(key))
    leaf_b64 = base64.b64encode(LEAF).decode()
    expected = f"consortium-exchange/receipt/v1\n{ORIGIN}\n{leaf_b64}\n{TIME}\n{kid}\n".encode()
    assert receipt_message(ORIGIN, LEAF, TIME, kid) == expected
    for bad in [
        (ORIGIN, LEAF[:31], TIME, kid),
        (ORIGIN, LEAF, "a\nb", kid),
        (ORIGIN, LEAF, TIME, "ABCDEF12"),
    ]:
        with pytest.raises(SignatureError):
            receipt_message(*bad)


def test_receipt_round_trip_and_tampering(key: Ed25519PrivateKey, other_key: Ed25519PrivateKey) -> None:
    pub = public_key_bytes(key)
    kid = key_id(ORIGIN, pub)
    sig = sign_receipt(key, ORIGIN, LEAF, TIME)
    assert len(sig) == 64
    Ed25519PublicKey.from_public_bytes(pub).verify(sig, receipt_message(ORIGIN, LEAF, TIME, kid))
    assert verify_receipt(pub, ORIGIN, LEAF, TIME, kid, sig)
    assert not verify_receipt(pub, ORIGIN, hashlib.sha256(b"x").digest(), TIME, kid, sig)
    assert not verify_receipt(pub, ORIGIN, LEAF, "2026-11-24T06:49:03.123457Z", kid, sig)
    assert not verify_receipt(pub, "other.example/log", LEAF, TIME, kid, sig)
    assert not verify_receipt(pub, ORIGIN, LEAF, TIME, "00000000", sig)
    assert not verify_receipt(public_key_bytes(other_key), ORIGIN, LEAF, TIME, kid, sig)
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    assert not verify_receipt(pub, ORIGIN, LEAF, TIME, kid, flipped)
    assert not verify_receipt(pub, ORIGIN, LEAF, TIME, kid, sig[:-1])


def test_module_never_reprs_private_material(key: Ed25519PrivateKey) -> None:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    checkpoint = parse_checkpoint(sign_checkpoint(key, ORIGIN, 1, ROOT))
    for text in (repr(checkpoint), repr(key), str(signing.__dict__.get("__all__"))):
        assert raw.hex() not in text and base64.b64encode(raw).decode() not in text


def test_documented_example() -> None:
    """The worked example in docs/ledger-format.md section 7 is what this code produces."""
    doc_key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    origin = "consortium.example/exchange/ledger"
    root = bytes.fromhex("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "ledger-format.md").read_text(encoding="utf-8")
    assert verifier_key(origin, public_key_bytes(doc_key)) in doc
    assert sign_checkpoint(doc_key, origin, 5, root) in doc


@settings(max_examples=60, deadline=None)
@given(
    leaf=st.binary(min_size=31, max_size=33),
    accepted_at=st.sampled_from(["2026-11-24T06:49:03.123456Z", "", "a\nb", "\ud800"]),
    tamper=st.sampled_from(["none", "signature", "key_id", "origin"]),
)
def test_receipt_verifier_answers_as_verify_receipt(leaf: bytes, accepted_at: str, tamper: str) -> None:
    from ledger.signing import ReceiptVerifier

    key = Ed25519PrivateKey.generate()
    public = public_key_bytes(key)
    origin = "example.org/log"
    signature = b"\x00" * 64
    if len(leaf) == 32 and accepted_at and "\n" not in accepted_at and accepted_at.isascii():
        signature = sign_receipt(key, origin, leaf, accepted_at)
    kid = key_id(origin, public)
    if tamper == "signature":
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    elif tamper == "key_id":
        kid = "00000000"
    elif tamper == "origin":
        origin = "other origin"
    expected = verify_receipt(public, origin, leaf, accepted_at, kid, signature)
    assert ReceiptVerifier(public, origin, kid).verify(leaf, accepted_at, signature) is expected
