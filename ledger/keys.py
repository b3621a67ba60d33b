"""The ledger's signing key: loaded from a PEM file or the environment, registered publicly, rotated.

The private key never enters the database or the logs. A process re-reads the key file when it changes, so
a rotation reaches every web and worker process without a restart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from consortium.errors import Unavailable
from ledger import signing
from ledger.models import Checkpoint, SigningKey

logger = logging.getLogger(__name__)


class SigningKeyUnavailable(Unavailable):
    """No usable signing key is configured (and generating one is not allowed here, or failed)."""


@dataclass(frozen=True)
class Signer:
    """The active private key with its public identity. repr never shows the private key."""

    key_id: str
    public_key: bytes
    private_key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


_cache_lock = threading.Lock()
_cache: dict[str, tuple[object, Signer]] = {}
_files_seen: dict[str, tuple[float, object]] = {}  # key file -> (look again after, its token)
FILE_RECHECK_SECONDS = 1.0


def origin() -> str:
    """The log's origin line, also the signed-note key name."""
    return settings.LEDGER["ORIGIN"]


def _key_path() -> Path:
    return Path(settings.LEDGER["SIGNING_KEY_PATH"])


def _key_source() -> tuple[object, str | None]:
    """A token that changes whenever the configured key changes, and the file to read it from (if any).

    A key file is looked at (stat) at most every FILE_RECHECK_SECONDS per process: every append asks, and
    a rotation by another process only has to be seen well within ROTATION_GRACE."""
    pem = settings.LEDGER["SIGNING_KEY_PEM"]
    if pem:
        return ("env", hash(pem)), None
    # The setting's text is the cache key: a Path made on every append cost more than the stat it spares.
    path_text = os.fspath(settings.LEDGER["SIGNING_KEY_PATH"])
    now = time.monotonic()
    with _cache_lock:
        seen = _files_seen.get(path_text)
    if seen is not None and now < seen[0]:
        return seen[1], path_text
    path = Path(path_text)
    if not path.exists():
        if not settings.LEDGER["GENERATE_DEV_KEY"]:
            raise SigningKeyUnavailable(
                f"No ledger signing key at {path}; set LEDGER_SIGNING_KEY_PATH or LEDGER_SIGNING_KEY."
            )
        try:
            write_private_key(path, signing.generate_private_key_pem())
        except OSError as exc:
            raise SigningKeyUnavailable(
                f"Cannot write a development ledger signing key at {path}: {exc.strerror}; set "
                "LEDGER_SIGNING_KEY_PATH to a writable place or to an existing key."
            ) from None
        logger.warning("Generated a development ledger signing key at %s", path)
    stat = path.stat()
    token = ("file", path_text, stat.st_mtime_ns, stat.st_ino, stat.st_size)
    with _cache_lock:
        _files_seen[path_text] = (now + FILE_RECHECK_SECONDS, token)
    return token, path_text


def write_private_key(path: Path, pem: bytes) -> None:
    """Write a PEM atomically with owner-only permissions (never world-readable, even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    os.replace(temporary, path)


def active_signer() -> Signer:
    """The key to sign with now, registered in SigningKey (a first-seen key is registered on first use)."""
    token, path = _key_source()
    with _cache_lock:
        cached = _cache.get("active")
        if cached is not None and cached[0] == token:
            return cached[1]
    private_key = _load_private_key(path)
    public = signing.public_key_bytes(private_key)
    signer = Signer(key_id=signing.key_id(origin(), public), public_key=public, private_key=private_key)
    published_before = register_public_key(signer)
    # A key first published inside the caller's transaction is only published if that commits: cache it
    # once its row is known to be committed, so a rollback can never leave us signing with a secret key.
    if published_before or not connection.in_atomic_block:
        with _cache_lock:
            _cache["active"] = (token, signer)
    return signer


def _load_private_key(path: str | None) -> Ed25519PrivateKey:
    """The configured private key (the file at `path`, else the environment's PEM); raises
    SigningKeyUnavailable naming where it looked when it cannot read or load it."""
    where = path if path is not None else "LEDGER_SIGNING_KEY"
    try:
        pem = Path(path).read_bytes() if path is not None else settings.LEDGER["SIGNING_KEY_PEM"].encode()
        return signing.load_private_key_pem(pem)
    except OSError as exc:
        raise SigningKeyUnavailable(
            f"Cannot read the ledger signing key at {where}: {exc.strerror}."
        ) from None
    except signing.SignatureError as exc:
        raise SigningKeyUnavailable(
            f"The ledger signing key at {where} is not an unencrypted Ed25519 PEM private key ({exc})."
        ) from None


def signing_key_unavailable() -> str | None:
    """Why no entry could be signed now (None: the configured key loads), for readiness checks. Reads the key
    as active_signer does but writes nothing: it neither publishes the key nor generates a development key
    (a missing file is no problem where one will be generated on first use)."""
    pem = settings.LEDGER["SIGNING_KEY_PEM"]
    path = None if pem else os.fspath(settings.LEDGER["SIGNING_KEY_PATH"])
    if path is not None and not Path(path).exists():
        if settings.LEDGER["GENERATE_DEV_KEY"]:
            return None
        return f"No ledger signing key at {path}; set LEDGER_SIGNING_KEY_PATH or LEDGER_SIGNING_KEY."
    try:
        _load_private_key(path)
    except SigningKeyUnavailable as exc:
        return str(exc)
    return None


def register_public_key(signer: Signer) -> bool:
    """Publish the signer's public key, valid from now, unless known; True if it was already published.

    SigningKeyUnavailable (nothing published) when the keys already published were made under another
    origin (`origin_mismatch`): signing under this one would leave a ledger that no longer verifies."""
    if SigningKey.objects.filter(key_id=signer.key_id).exists():
        return True
    mismatch = origin_mismatch()
    if mismatch is not None:
        raise SigningKeyUnavailable(mismatch)
    try:
        with transaction.atomic():
            SigningKey.objects.create(
                key_id=signer.key_id, public_key=signer.public_key, valid_from=timezone.now()
            )
    except IntegrityError:  # another process published it first
        return True
    return False


def origin_mismatch() -> str | None:
    """Why the configured origin is not the ledger's (None: it is, or no key is published yet).

    A key id is a hash of the origin and the public key (signed-note), and every receipt and checkpoint
    names the origin, so a ledger keeps the origin it began with: after LEDGER_ORIGIN changes, its published
    keys' ids no longer match, and what is signed under the new origin does not verify with the old."""
    name = origin()
    for key_id, public_key in SigningKey.objects.values_list("key_id", "public_key"):
        if signing.key_id(name, bytes(public_key)) != key_id:
            note = Checkpoint.objects.order_by("-tree_size").values_list("note", flat=True).first()
            was = f" ({note.split(chr(10), 1)[0]!r}, the origin line of its checkpoints)" if note else ""
            return (
                f"LEDGER_ORIGIN is {name!r}, but the ledger's key {key_id} was published under another "
                f"origin{was}: a ledger keeps the origin it began with, as every key id, receipt and "
                "checkpoint is made under it. Set LEDGER_ORIGIN back to it."
            )
    return None


def forget_cached_signer() -> None:
    """Drop the in-process cache (tests, and after a rotation in this process)."""
    with _cache_lock:
        _cache.clear()
        _files_seen.clear()


# A process that read the old key just before a rotation may still sign a receipt a moment after the new
# key's start; the old key stays valid for receipts this long after its successor begins.
ROTATION_GRACE = timedelta(seconds=60)


def validity_windows() -> list[tuple[SigningKey, datetime | None]]:
    """Every public key with the end of its validity: the next key's start plus ROTATION_GRACE (None for
    the current key). A receipt is valid only if its acceptance time falls in its key's window; a
    checkpoint note carries no time, so it verifies under the published key it names, retired or not."""
    keys = list(SigningKey.objects.order_by("valid_from"))
    return [
        (key, keys[i + 1].valid_from + ROTATION_GRACE if i + 1 < len(keys) else None)
        for i, key in enumerate(keys)
    ]
