"""Hand each actor the receipts of the entries its request appended (`Ledger-Receipts` response header),
and the one REST shape of a receipt and of an entry's canonical bytes that every API answer uses.

Services return their entries to their callers; interfaces that cannot thread them through (every API
action) collect them here for the span of one request and return them in a header as a JSON array.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

if TYPE_CHECKING:
    from ledger.models import LedgerEntry

HEADER = "Ledger-Receipts"
_collected: ContextVar[list[LedgerEntry] | None] = ContextVar("ledger_receipts", default=None)


def note_appended(entry: LedgerEntry) -> None:
    """Called by ledger_append: remember the entry if a request is collecting receipts."""
    collected = _collected.get()
    if collected is not None:
        collected.append(entry)


class LedgerReceiptsMiddleware:
    """On a successful API request that appended entries, add their signed receipts as a header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _collected.set([])
        try:
            response = self.get_response(request)
            entries = _collected.get() or []
        finally:
            _collected.reset(token)
        if entries and response.status_code < 400:
            from ledger.services import receipt_of

            response[HEADER] = json.dumps(
                [receipt_of(entry).as_dict() for entry in entries], separators=(",", ":")
            )
            response["Access-Control-Expose-Headers"] = HEADER
        return response


class ReceiptSerializer(serializers.Serializer):
    """The signed receipt of a ledger entry (docs/ledger-format.md section 6), from the entry: what the
    ledger's entries, the exchange's decisions and the `Ledger-Receipts` header all carry."""

    origin = serializers.CharField(help_text="The ledger's origin, the signing key's name")
    leaf_hash = serializers.CharField(help_text="hex SHA-256(0x00 || canonical bytes)")
    accepted_at = serializers.CharField(help_text="The entry's `time`, character for character")
    key_id = serializers.CharField(help_text="8 hex digits: the key in /api/v1/ledger/keys/ that signed it")
    signature = serializers.CharField(help_text="base64 Ed25519 signature of the receipt message")

    def to_representation(self, instance: LedgerEntry) -> dict[str, str]:
        from ledger.services import receipt_of

        return receipt_of(instance).as_dict()


@extend_schema_field(OpenApiTypes.BYTE)
class CanonicalBytesField(serializers.Field):
    """An entry's canonical bytes as standard padded base64 (docs/ledger-format.md section 2 and the
    export's `canonical`): `base64 -d` gives the bytes whose leaf hash the receipt signs."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("help_text", "base64 of the entry's exact canonical bytes (RFC 8785 JSON)")
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return base64.b64encode(bytes(value)).decode()


class _EntryReceiptList(serializers.ListSerializer):
    """Receipts in a list look up their sequence numbers in one query."""

    def to_representation(self, data: Any) -> list[Any]:
        from ledger.selectors import sequence_numbers

        entries = list(data.all() if hasattr(data, "all") else data)
        child: EntryReceiptSerializer = self.child  # type: ignore[assignment]
        child.seqs = sequence_numbers(entry.id for entry in entries)
        return [child.to_representation(entry) for entry in entries]


class EntryReceiptSerializer(serializers.Serializer):
    """The signed receipt of one ledger entry, with what it records: the shape /api/v1/ledger/entries/
    gives the same entry (`canonical` in base64, `receipt`), plus what the entry is about."""

    seq = serializers.SerializerMethodField(
        help_text="The entry's sequence number (its leaf in the log); null until it is sequenced, "
        "within max_integration_delay_seconds of /api/v1/ledger/status/"
    )
    kind = serializers.CharField()
    subject_type = serializers.CharField()
    subject_id = serializers.CharField()
    receipt = ReceiptSerializer(source="*", read_only=True)
    canonical = CanonicalBytesField()

    seqs: dict[int, int] | None = None  # set by the list: the sequence numbers of all its entries

    class Meta:
        list_serializer_class = _EntryReceiptList

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_seq(self, entry: LedgerEntry) -> int | None:
        from ledger.selectors import sequence_numbers

        seqs = self.seqs if self.seqs is not None else sequence_numbers([entry.id])
        return seqs.get(entry.id)
