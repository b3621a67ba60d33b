"""Appending an entry inside the caller's transaction, and the receipt signed when it was accepted."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from consortium.errors import Conflict, ValidationFailed
from ledger import canonical, keys, receipts, signing
from ledger.credit import engine as credit_engine
from ledger.credit import store as credit_store
from ledger.db import hot_rows
from ledger.models import LedgerEntry
from ledger.services.after_commit import _sequence_after_commit

if TYPE_CHECKING:
    from consortium.models import MemberAPIKey, User


# Matched whole (fullmatch): `$` would also take a kind ending in a newline.
KIND_PATTERN = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")
# The entry table's column widths (LedgerEntry): PostgreSQL refuses longer text, SQLite would keep it.
_MAX_KIND, _MAX_SUBJECT_TYPE, _MAX_SUBJECT_ID, _MAX_MEMBER_REFS = 64, 40, 64, 500


@dataclass(frozen=True)
class Receipt:
    """What the exchange gives the actor: proof it accepted the entry with this leaf hash at this time."""

    origin: str
    leaf_hash: bytes
    accepted_at: str
    key_id: str
    signature: bytes

    def as_dict(self) -> dict[str, str]:
        return {
            "origin": self.origin,
            "leaf_hash": self.leaf_hash.hex(),
            "accepted_at": self.accepted_at,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }


def receipt_of(entry: LedgerEntry) -> Receipt:
    """The receipt signed when `entry` was accepted."""
    return Receipt(
        origin=keys.origin(),
        leaf_hash=bytes(entry.leaf_hash),
        accepted_at=canonical.format_time(entry.accepted_at),
        key_id=entry.key_id,
        signature=bytes(entry.receipt_signature),
    )


def ledger_append(
    *,
    kind: str,
    actor: User | None,
    subject_type: str,
    subject_id: str | int,
    members: Iterable[int] = (),
    payload: dict[str, Any],
    api_key: MemberAPIKey | None = None,
) -> LedgerEntry:
    """Record one fact inside the caller's transaction and return the entry (its receipt: `receipt_of`).

    The entry commits or rolls back with the caller's state change. It gets its sequence number shortly
    after commit. Raises ValidationFailed(bad_entry) (nothing written) for a bad kind, a subject wider
    than its column, a member id that is not an integer, or a payload that is not integer-only JSON with
    string keys. A credit-relevant kind (ledger.credit.engine.CREDIT_KINDS) also
    gets `payload["credit"]["order"]` and posts its transfers; Conflict(insufficient_credit, with
    `shortfall_mcr`) or Conflict(credit_refused) when the credit rules refuse it.
    """
    if not (isinstance(kind, str) and len(kind) <= _MAX_KIND and KIND_PATTERN.fullmatch(kind)):
        raise ValidationFailed(
            f"Ledger entry kind {kind!r} is not a dotted lower-case name of at most {_MAX_KIND} characters.",
            code="bad_entry",
        )
    member_ids = _checked_members(subject_type, subject_id, members)
    if not isinstance(payload, dict):
        raise ValidationFailed("A ledger entry payload must be a JSON object.", code="bad_entry")
    if kind in credit_engine.CREDIT_KINDS:
        # Credit entries take their order (and the credit lock) first, and post their transfers with the
        # entry: one atomic block, so a refusal by the rules leaves neither behind.
        with transaction.atomic(savepoint=False):
            payload = {**payload, "credit": {"order": credit_store.begin_credit_entry(kind, payload)}}
            entry, document = _append(kind, actor, subject_type, subject_id, member_ids, payload, api_key)
            try:
                credit_store.post_entry(
                    entry_id=entry.id, leaf_hash=bytes(entry.leaf_hash), document=document
                )
            except credit_engine.InsufficientCredit as exc:
                raise Conflict(
                    f"Not enough credit: {exc.shortfall} mCR short.",
                    code="insufficient_credit",
                    shortfall_mcr=exc.shortfall,
                    account=exc.account,
                ) from exc
            except credit_engine.CreditError as exc:
                raise Conflict(str(exc), code=exc.code) from exc
        return entry
    return _append(kind, actor, subject_type, subject_id, member_ids, payload, api_key)[0]


def _checked_members(subject_type: Any, subject_id: Any, members: Iterable[Any]) -> list[int]:
    """The member ids, ascending and unique; ValidationFailed(bad_entry) unless the subject fits its columns
    and every member id is an integer (not a float, boolean or digit string, which int() would silently
    turn into another id)."""
    if not (isinstance(subject_type, str) and 0 < len(subject_type) <= _MAX_SUBJECT_TYPE):
        raise ValidationFailed(
            f"Ledger entry subject type {subject_type!r} is not a string of 1 to {_MAX_SUBJECT_TYPE} "
            "characters.",
            code="bad_entry",
        )
    subject_text = str(subject_id) if type(subject_id) is int else subject_id
    if not (isinstance(subject_text, str) and 0 < len(subject_text) <= _MAX_SUBJECT_ID):
        raise ValidationFailed(
            f"Ledger entry subject id {subject_id!r} is not an integer or a string of 1 to {_MAX_SUBJECT_ID} "
            "characters.",
            code="bad_entry",
        )
    member_ids = list(members)
    for index, member_id in enumerate(member_ids):
        if type(member_id) is not int:
            raise ValidationFailed(
                f"The ledger entry cannot be recorded: members[{index}]: {member_id!r} is not a member id "
                "(an integer).",
                code="bad_entry",
            )
    unique = sorted(set(member_ids))
    # member_refs, "|3|17|": one bar before each id and one after the last.
    if len(unique) + sum(len(str(member_id)) for member_id in unique) + 1 > _MAX_MEMBER_REFS:
        raise ValidationFailed(
            f"The ledger entry cannot be recorded: its {len(unique)} member ids do not fit the entry's "
            f"member index ({_MAX_MEMBER_REFS} characters as |id|id|).",
            code="bad_entry",
        )
    return unique


def _append(
    kind: str,
    actor: User | None,
    subject_type: str,
    subject_id: str | int,
    member_ids: list[int],
    payload: dict[str, Any],
    api_key: MemberAPIKey | None,
) -> tuple[LedgerEntry, dict[str, Any]]:
    signer = keys.active_signer()  # before the time: a newly registered key's window starts before it
    accepted_at = timezone.now()
    actor_member_id = getattr(actor, "member_id", None) if actor is not None else None
    uid = uuid.uuid4()
    time_text = canonical.format_time(accepted_at)
    actor_user_id = actor.pk if actor is not None else None
    document: dict[str, Any] = {
        "v": 1,
        "id": str(uid),
        "kind": kind,
        "time": time_text,
        "actor": {
            "user": actor_user_id,
            "member": actor_member_id,
            "api_key": api_key.prefix if api_key is not None else None,
        },
        "subject": {"type": subject_type, "id": str(subject_id)},
        "members": member_ids,
        "payload": payload,
    }
    try:
        data = canonical.canonical_bytes(document)
    except canonical.CanonicalError as exc:
        raise ValidationFailed(f"The ledger entry cannot be recorded: {exc}", code="bad_entry") from exc
    leaf_hash = canonical.leaf_hash(data)
    signature = signer.sign(signing.receipt_message(keys.origin(), leaf_hash, time_text, signer.key_id))
    member_refs = "".join(f"|{member_id}" for member_id in member_ids) + ("|" if member_ids else "")
    values: list[Any] = [
        uid,
        kind,
        accepted_at,
        actor_user_id,
        actor_member_id,
        subject_type,
        str(subject_id),
        member_refs,
        data,
        leaf_hash,
        signer.key_id,
        signature,
    ]
    # Positional, in _ENTRY_COLUMNS order (checked at import): half the time of keyword arguments.
    entry = LedgerEntry(None, *values)  # type: ignore[misc]  # the stubs plugin reads *values as one field
    # The hot path of every service: one plain INSERT (the ORM's save machinery costs as much as the
    # row itself) that commits with the caller's transaction. Parameters as the fields would prepare them
    # (on PostgreSQL the values themselves; elsewhere UUID as hex and the backend's datetime), without the
    # per-field calls; bytes bind as bytea/BLOB.
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        values[0] = uid if conn.features.has_native_uuid_field else uid.hex
        values[2] = conn.ops.adapt_datetimefield_value(accepted_at)
    if conn.in_atomic_block:
        # Inside the caller's block no block of our own is needed: one statement is atomic. A failure marks
        # the caller's block for rollback, as Django's nested atomic(savepoint=False) would (a test pins it).
        try:
            entry.id = _insert_entry(conn, values)
        except BaseException:
            conn.needs_rollback = True
            raise
        _sequence_after_commit(conn)
    else:
        with transaction.atomic(savepoint=False):
            entry.id = _insert_entry(conn, values)
            _sequence_after_commit(conn)
    receipts.note_appended(entry)
    return entry, document


_ENTRY_COLUMNS = (
    "uid",
    "kind",
    "accepted_at",
    "actor_user_id",
    "actor_member_id",
    "subject_type",
    "subject_id",
    "member_refs",
    "canonical",
    "leaf_hash",
    "key_id",
    "receipt_signature",
)
if tuple(field.attname for field in LedgerEntry._meta.concrete_fields) != ("id", *_ENTRY_COLUMNS):
    raise ImproperlyConfigured(
        "ledger.services.appending._ENTRY_COLUMNS must list LedgerEntry's fields in order"
    )
_INSERT_ENTRY = (
    f"INSERT INTO ledger_ledgerentry ({', '.join(_ENTRY_COLUMNS)}) "  # noqa: S608 - constant names only
    f"VALUES ({', '.join(['%s'] * len(_ENTRY_COLUMNS))}) RETURNING id"
)


def _insert_entry(conn: Any, params: list[Any]) -> int:
    """INSERT one entry row; return its id."""
    return int(hot_rows(_INSERT_ENTRY, params, conn=conn)[0][0])
