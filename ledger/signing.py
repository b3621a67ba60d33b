"""Ed25519 keys, C2SP signed-note checkpoints and entry receipts: the exact bytes the ledger signs.

Key name and key id (C2SP signed-note, Ed25519 signature type ``0x01``):

* key hash: first 4 bytes of ``SHA-256(name || 0x0A || 0x01 || public_key)``; key id: its 8 lowercase hex;
* verifier key: ``<name>+<key id>+<base64(0x01 || public_key)>`` (standard base64 with padding),
  the string ``golang.org/x/mod/sumdb/note.NewVerifier`` accepts. The ledger's key name is its origin.

Checkpoint (C2SP tlog-checkpoint) signed note::

    <origin>\\n<tree size, decimal>\\n<base64(root hash)>\\n
    \\n
    — <key name> <base64(key hash || 64-byte Ed25519 signature over the body bytes)>\\n

(``—`` is U+2014 EM DASH, followed by one space.)

Receipt message, UTF-8::

    consortium-exchange/receipt/v1\\n<origin>\\n<base64(leaf hash)>\\n<accepted_at>\\n<key id>\\n

signed with Ed25519; the receipt is the raw 64-byte signature. Private keys are never logged or printed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ED25519_ALGORITHM",
    "RECEIPT_CONTEXT",
    "Checkpoint",
    "ReceiptVerifier",
    "SignatureError",
    "b64decode_strict",
    "checkpoint_body",
    "generate_private_key_pem",
    "is_valid_key_name",
    "key_id",
    "load_private_key_pem",
    "note_key_hash",
    "open_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "public_key_bytes",
    "receipt_message",
    "sign_checkpoint",
    "sign_note",
    "sign_receipt",
    "verifier_key",
    "verify_checkpoint",
    "verify_receipt",
]

ED25519_ALGORITHM = 0x01
RECEIPT_CONTEXT = "consortium-exchange/receipt/v1"
SIGNATURE_PREFIX = "\u2014 "  # EM DASH + space starts every signature line
MAX_SIGNATURES = 100  # same bound as golang.org/x/mod/sumdb/note
_DECIMAL = re.compile(r"(0|[1-9][0-9]*)\Z")
_KEY_ID = re.compile(r"[0-9a-f]{8}\Z")


class SignatureError(ValueError):
    """A signature, note, key or receipt is malformed or does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint note; ``signatures`` holds ``(key name, 4-byte key hash, signature)``."""

    origin: str
    size: int
    root: bytes
    signatures: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    extensions: tuple[str, ...] = ()


def load_private_key_pem(data: bytes) -> Ed25519PrivateKey:
    """Load an unencrypted PEM Ed25519 private key; raises :class:`SignatureError` otherwise."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        # The message never includes key material.
        raise SignatureError(f"cannot load private key: {type(exc).__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError("private key is not Ed25519")
    return key


def generate_private_key_pem() -> bytes:
    """Generate a fresh Ed25519 key as unencrypted PKCS#8 PEM bytes."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of the public key of ``key`` (private or public)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def is_valid_key_name(name: str) -> bool:
    """A note key name (and so our origin): non-empty text without whitespace or ``+`` (C2SP signed-note)."""
    return (
        isinstance(name, str)
        and bool(name)
        and "+" not in name
        and not any(ch.isspace() or unicodedata.category(ch) in ("Zs", "Cc", "Cs") for ch in name)
    )


@functools.lru_cache(maxsize=64)
def _is_valid_key_name_cached(name: str) -> bool:
    return is_valid_key_name(name)


def _check_name(name: str) -> None:
    # Every receipt checks the same origin: remember the verdict per name (a pure function of the text).
    if not (isinstance(name, str) and _is_valid_key_name_cached(name)):
        raise SignatureError(f"invalid key name {name!r}: must be non-empty without spaces or '+'")


def _check_public(pub: bytes) -> None:
    if not isinstance(pub, bytes) or len(pub) != 32:
        raise SignatureError("an Ed25519 public key is 32 bytes")


def note_key_hash(name: str, public_key: bytes) -> bytes:
    """First 4 bytes of ``SHA-256(name || 0x0A || 0x01 || public_key)``."""
    _check_name(name)
    _check_public(public_key)
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519_ALGORITHM]) + public_key).digest()[:4]


def key_id(name: str, public_key: bytes) -> str:
    """The key hash of :func:`note_key_hash` as 8 lowercase hex digits."""
    return note_key_hash(name, public_key).hex()


def verifier_key(name: str, public_key: bytes) -> str:
    """``<name>+<key id>+<base64(0x01 || public_key)>``."""
    encoded = base64.b64encode(bytes([ED25519_ALGORITHM]) + public_key).decode()
    return f"{name}+{key_id(name, public_key)}+{encoded}"


def parse_verifier_key(vkey: str) -> tuple[str, bytes]:
    """Parse a verifier key into ``(name, public_key)``; raises :class:`SignatureError` if inconsistent."""
    parts = vkey.split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3 or not _KEY_ID.match(parts[1]):
        raise SignatureError("malformed verifier key")
    name, kid, b64 = parts
    raw = b64decode_strict(b64)
    if len(raw) != 33 or raw[0] != ED25519_ALGORITHM:
        raise SignatureError("verifier key is not an Ed25519 key")
    if key_id(name, raw[1:]) != kid:
        raise SignatureError("verifier key id does not match its name and key")
    return name, raw[1:]


def b64decode_strict(text: str) -> bytes:
    """Strict standard base64: padded, and canonical (unused bits zero), so an encoding is never malleable."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SignatureError("invalid base64") from None
    if base64.b64encode(raw).decode() != text:
        raise SignatureError("non-canonical base64")
    return raw


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """``origin\\nsize\\nbase64(root)\\n``; raises :class:`SignatureError` for a bad origin, size or root."""
    _check_name(origin)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise SignatureError(f"invalid tree size {size!r}")
    if not isinstance(root, bytes) or len(root) != 32:
        raise SignatureError("root hash must be 32 bytes")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_note(private_key: Ed25519PrivateKey, name: str, text: str) -> str:
    """A C2SP signed note: ``text`` (ending in newline), a blank line, one signature line by key ``name``.

    Raises :class:`SignatureError` if ``text`` is not a valid note text or ``name`` not a valid key name.
    """
    _check_text(text)
    signature = private_key.sign(text.encode())
    encoded = base64.b64encode(note_key_hash(name, public_key_bytes(private_key)) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


def open_note(note: str, name: str, public_key: bytes) -> str:
    """Return the text of ``note`` if its signature line by key ``(name, public_key)`` verifies.

    Signature lines by other keys are ignored (C2SP signed-note). As Go's ``note.Open`` does, the first line
    by this key decides and later ones are ignored: a failing signature by a known key rejects the note,
    whatever else it carries. Raises :class:`SignatureError` when the note is malformed, carries no
    signature by that key, or that signature does not verify.
    """
    text, signatures = _split_note(note)
    wanted = note_key_hash(name, public_key)
    for sig_name, sig_hash, signature in signatures:
        if sig_name == name and sig_hash == wanted:
            try:
                Ed25519PublicKey.from_public_bytes(public_key).verify(signature, text.encode())
            except InvalidSignature:
                raise SignatureError(f"invalid signature by key {name}+{wanted.hex()}") from None
            return text
    raise SignatureError(f"no signature by key {name}+{wanted.hex()}")


def sign_checkpoint(private_key: Ed25519PrivateKey, origin: str, size: int, root: bytes) -> str:
    """The signed checkpoint note: :func:`checkpoint_body`, blank line, a signature by key name ``origin``."""
    return sign_note(private_key, origin, checkpoint_body(origin, size, root))


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text.endswith("\n"):
        raise SignatureError("a note must be text ending in a newline")
    if any((ch < " " and ch != "\n") or "\ud800" <= ch <= "\udfff" for ch in text):
        raise SignatureError("a note must not contain control characters")


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Split a signed note into body text (ending in newline) and its signature lines."""
    _check_text(note)
    cut = note.rfind("\n\n")
    if cut < 0:
        raise SignatureError("a note needs a blank line before its signatures")
    body, sig_text = note[: cut + 1], note[cut + 2 :]
    signatures: list[tuple[str, bytes, bytes]] = []
    for line in sig_text.split("\n")[:-1]:
        if not line.startswith(SIGNATURE_PREFIX):
            raise SignatureError("malformed signature line")
        name, sep, b64 = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        if not sep:
            raise SignatureError("malformed signature line")
        _check_name(name)
        raw = b64decode_strict(b64)
        if len(raw) < 5:
            raise SignatureError("signature too short")
        signatures.append((name, raw[:4], raw[4:]))
    if not signatures:
        raise SignatureError("a note must carry at least one signature")
    if len(signatures) > MAX_SIGNATURES:
        raise SignatureError("too many signatures")
    return body, signatures


def _parse_body(body: str) -> tuple[str, int, bytes, tuple[str, ...]]:
    lines = body.split("\n")[:-1]  # body ends in "\n"
    if len(lines) < 3:
        raise SignatureError("a checkpoint has an origin, a size and a root hash line")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise SignatureError("empty checkpoint origin")
    if not _DECIMAL.match(size_text):
        raise SignatureError("checkpoint size is not a decimal without leading zeros")
    root = b64decode_strict(root_text)
    if len(root) != 32:
        raise SignatureError("checkpoint root hash is not 32 bytes")
    if any(not line for line in extensions):
        raise SignatureError("empty checkpoint extension line")
    return origin, int(size_text), root, tuple(extensions)


def parse_checkpoint(note: str) -> Checkpoint:
    """Parse a checkpoint signed note without verifying any signature; raises :class:`SignatureError`."""
    body, signatures = _split_note(note)
    origin, size, root, extensions = _parse_body(body)
    return Checkpoint(origin, size, root, signatures, extensions)


def verify_checkpoint(note: str, name: str, public_key: bytes, *, origin: str | None = None) -> Checkpoint:
    """Parse ``note`` and require a valid signature by key ``(name, public_key)``.

    Also requires the checkpoint's origin to equal ``origin`` when given. Raises :class:`SignatureError`
    when the note is malformed or no signature line by that key verifies.
    """
    open_note(note, name, public_key)
    checkpoint = parse_checkpoint(note)
    if origin is not None and checkpoint.origin != origin:
        raise SignatureError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint


def receipt_message(origin: str, leaf_hash: bytes, accepted_at: str, key_id: str) -> bytes:
    """UTF-8 of ``consortium-exchange/receipt/v1\\n<origin>\\n<b64 leaf hash>\\n<accepted_at>\\n<key id>\\n``.

    Raises :class:`SignatureError` if a field is malformed (so no two inputs share a message).
    """
    _check_name(origin)
    if not isinstance(leaf_hash, bytes) or len(leaf_hash) != 32:
        raise SignatureError("leaf hash must be 32 bytes")
    if not isinstance(accepted_at, str) or not accepted_at or "\n" in accepted_at:
        raise SignatureError("accepted_at must be a one-line time string")
    if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
        raise SignatureError("key id must be 8 lowercase hex digits")
    lines = (RECEIPT_CONTEXT, origin, base64.b64encode(leaf_hash).decode(), accepted_at, key_id)
    return "".join(f"{line}\n" for line in lines).encode()


def sign_receipt(private_key: Ed25519PrivateKey, origin: str, leaf_hash: bytes, accepted_at: str) -> bytes:
    """Sign a receipt by key name ``origin``; returns the raw 64-byte Ed25519 signature.

    The key id in the message is ``key_id(origin, public key)``.
    """
    kid = key_id(origin, public_key_bytes(private_key))
    return private_key.sign(receipt_message(origin, leaf_hash, accepted_at, kid))


class ReceiptVerifier:
    """:func:`verify_receipt` for many receipts by one key: the key id check, the key object and the
    message's constant lines are prepared once. ``verify`` answers exactly as :func:`verify_receipt`."""

    def __init__(self, public_key: bytes, origin: str, key_id: str) -> None:
        try:
            usable = note_key_hash(origin, public_key).hex() == key_id and bool(_KEY_ID.match(key_id))
            self._verifier = Ed25519PublicKey.from_public_bytes(public_key) if usable else None
        except (SignatureError, ValueError, TypeError):
            self._verifier = None
        if self._verifier is not None:
            self._head = f"{RECEIPT_CONTEXT}\n{origin}\n".encode()
            self._tail = f"\n{key_id}\n".encode()

    def verify(self, leaf_hash: bytes, accepted_at: str, signature: bytes) -> bool:
        if self._verifier is None:
            return False
        if (
            not isinstance(leaf_hash, bytes)
            or len(leaf_hash) != 32
            or not isinstance(accepted_at, str)
            or not accepted_at
            or "\n" in accepted_at
        ):
            return False
        try:
            message = b"".join(
                (self._head, base64.b64encode(leaf_hash), b"\n", accepted_at.encode(), self._tail)
            )
            self._verifier.verify(signature, message)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def verify_receipt(
    public_key: bytes, origin: str, leaf_hash: bytes, accepted_at: str, key_id: str, signature: bytes
) -> bool:
    """True iff ``signature`` is a valid receipt by ``public_key`` and ``key_id`` names that key."""
    try:
        if note_key_hash(origin, public_key).hex() != key_id:
            return False
        message = receipt_message(origin, leaf_hash, accepted_at, key_id)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (SignatureError, InvalidSignature, ValueError, TypeError):
        return False
    return True
