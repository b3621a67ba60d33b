"""Ledger REST representations: entries with receipts, checkpoints, proofs, public keys (hex/base64)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from consortium.api.fields import WholeNumberField
from ledger import keys
from ledger.models import Checkpoint, LedgerLeaf, SigningKey
from ledger.receipts import CanonicalBytesField, ReceiptSerializer


class LedgerEntrySerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    kind = serializers.CharField(source="entry.kind")
    accepted_at = serializers.DateTimeField(source="entry.accepted_at")
    document = serializers.SerializerMethodField(
        help_text="The entry object whose RFC 8785 bytes are hashed."
    )
    canonical = CanonicalBytesField(source="entry.canonical")
    receipt = ReceiptSerializer(source="entry", read_only=True)

    @extend_schema_field(serializers.DictField())
    def get_document(self, leaf: LedgerLeaf) -> dict[str, Any]:
        return json.loads(bytes(leaf.entry.canonical))


class CheckpointSerializer(serializers.ModelSerializer):
    root_hash = serializers.SerializerMethodField()
    key_id = serializers.CharField(source="key.key_id")
    origin = serializers.SerializerMethodField()

    class Meta:
        model = Checkpoint
        fields = ["tree_size", "root_hash", "issued_at", "key_id", "origin", "note"]

    def get_root_hash(self, checkpoint: Checkpoint) -> str:
        return bytes(checkpoint.root_hash).hex()

    def get_origin(self, checkpoint: Checkpoint) -> str:
        return keys.origin()


class SigningKeySerializer(serializers.Serializer):
    key_id = serializers.CharField()
    public_key = serializers.CharField(help_text="base64 raw Ed25519 public key (32 bytes)")
    verifier_key = serializers.CharField(help_text="signed-note verifier key: name+hash+base64(0x01||key)")
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(allow_null=True)


def signing_key_data(key: SigningKey, valid_until: Any) -> dict[str, Any]:
    from ledger import signing

    public = bytes(key.public_key)
    return {
        "key_id": key.key_id,
        "public_key": base64.b64encode(public).decode(),
        "verifier_key": signing.verifier_key(keys.origin(), public),
        "valid_from": key.valid_from,
        "valid_until": valid_until,
    }


_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


class HexField(serializers.CharField):
    """A 32-byte hash in lower- or upper-case hex."""

    # Input only: the text is validated as a CharField (and documented as a string), the value is bytes.
    def to_internal_value(self, data: Any) -> bytes:  # type: ignore[override]
        text = super().to_internal_value(data)
        # Hex digits only: bytes.fromhex also skips spaces between pairs ("ab ab ...").
        if not _HEX_DIGITS.fullmatch(text):
            raise serializers.ValidationError("must be hexadecimal", code="malformed_hex")
        if len(text) != 64:
            raise serializers.ValidationError("must be 32 bytes (64 hex digits)", code="malformed_hex")
        return bytes.fromhex(text)


class InclusionQuerySerializer(serializers.Serializer):
    tree_size = WholeNumberField(min_value=1)
    seq = WholeNumberField(min_value=0, required=False)
    leaf_hash = HexField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("seq" in attrs) == ("leaf_hash" in attrs):
            raise serializers.ValidationError("Give exactly one of seq or leaf_hash.")
        return attrs


class InclusionProofSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField()
    root_hash = serializers.CharField()
    proof = serializers.ListField(child=serializers.CharField(), help_text="hex hashes, RFC 9162 order")


class ConsistencyQuerySerializer(serializers.Serializer):
    first = WholeNumberField(min_value=1)
    second = WholeNumberField(min_value=1)


class ConsistencyProofSerializer(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    first_root_hash = serializers.CharField()
    second_root_hash = serializers.CharField()
    proof = serializers.ListField(child=serializers.CharField())


def hexed(result: dict[str, Any]) -> dict[str, Any]:
    """Bytes values as hex, lists of bytes as lists of hex."""
    return {
        key: value.hex()
        if isinstance(value, bytes)
        else [v.hex() for v in value]
        if isinstance(value, list)
        else value
        for key, value in result.items()
    }


class LedgerStatusSerializer(serializers.Serializer):
    tree_size = serializers.IntegerField()
    pending_entries = serializers.IntegerField()
    oldest_pending_age_seconds = serializers.FloatField()
    max_integration_delay_seconds = serializers.IntegerField()
    checkpoint_interval_seconds = serializers.IntegerField(
        help_text="How old the latest checkpoint gets before a new one is signed (see checkpoint_schedule)."
    )
    checkpoint_schedule = serializers.ChoiceField(
        choices=["periodic", "after_commit"],
        help_text="periodic: a scheduler signs one every interval. after_commit (a deployment without a "
        "scheduler, such as the development server): the first ledger write after the interval signs one, "
        "so a quiet ledger keeps its latest checkpoint until the next write.",
    )
    latest_checkpoint_size = serializers.IntegerField(allow_null=True)
    latest_checkpoint_issued_at = serializers.DateTimeField(allow_null=True)
