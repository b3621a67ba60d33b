"""Ledger tables: entries, their sequence, stored Merkle subtrees, checkpoints and public keys (append-only).

Every table here but `SequencerState` refuses UPDATE, DELETE and TRUNCATE by database trigger (migration
`0002_append_only_triggers`). `SequencerState` is the sequencer's bookmark, not part of the record.
On PostgreSQL the entry table also has a `txid` column (migration `0003_entry_txid`), filled by the
database with the inserting transaction's id, which lets the sequencer find new entries without a queue.
"""

from __future__ import annotations

from django.db import models

APPEND_ONLY_TABLES = (
    "ledger_ledgerentry",
    "ledger_ledgerleaf",
    "ledger_ledgernode",
    "ledger_checkpoint",
    "ledger_signingkey",
)


class LedgerEntry(models.Model):
    """One fact, as accepted: its exact canonical bytes, leaf hash and the receipt signed at acceptance.

    The columns beside `canonical` are copies of fields inside it, kept for filtering; verification reads
    only `canonical`, so a copied column that disagrees with it is caught as tampering.
    """

    uid = models.UUIDField()
    kind = models.CharField(max_length=64)
    accepted_at = models.DateTimeField()
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_member_id = models.BigIntegerField(null=True, blank=True)
    subject_type = models.CharField(max_length=40)
    subject_id = models.CharField(max_length=64)
    # "|3|17|": the ids of the members the entry concerns, delimited so a LIKE '%|3|%' finds member 3.
    member_refs = models.CharField(max_length=500, blank=True)
    canonical = models.BinaryField()
    leaf_hash = models.BinaryField(max_length=32, unique=True)
    key_id = models.CharField(max_length=8)
    receipt_signature = models.BinaryField(max_length=64)

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["subject_type", "subject_id"], name="ledger_entry_subject"),
            # One index serves `kind =`, `kind IN` and `kind LIKE 'prefix%'` (the pattern operator class
            # has the equality operator too); Django's db_index made two, each written on every append.
            models.Index(fields=["kind"], name="ledger_entry_kind", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.uid}"


class SequencerState(models.Model):
    """One row, the sequencer's bookmark on PostgreSQL: every committed entry at or below (`scan_txid`,
    `scan_id`) in (txid, id) order is sequenced, except those of the transactions in `watch` (a bigint[]
    column added by migration `0006_sequencer_watch`), which were still open when the scan passed them."""

    scan_txid = models.BigIntegerField(default=0)
    scan_id = models.BigIntegerField(default=0)


class LedgerLeaf(models.Model):
    """Entry `entry` is leaf `seq` of the tree. `previous` makes the sequence gap-free by constraint.

    On PostgreSQL both references are checked once per INSERT statement by a trigger (migration
    `0005_leaf_reference_trigger`) instead of by per-row foreign keys, which locked each entry row (FOR KEY
    SHARE) as the sequencer inserted its leaf. Nothing can delete what they refer to: the tables are
    append-only. SQLite keeps its foreign keys.
    """

    seq = models.BigIntegerField(primary_key=True)
    entry = models.OneToOneField(
        LedgerEntry, on_delete=models.PROTECT, related_name="leaf", db_constraint=False
    )
    previous = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_column="previous_seq",
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(seq=0, previous__isnull=True)
                | models.Q(seq__gt=0, previous=models.F("seq") - 1),
                name="ledger_leaf_follows_previous",
            ),
        ]


class LedgerNode(models.Model):
    """The hash of a complete subtree: leaves [index * 2**level, (index + 1) * 2**level). Level 0 = leaves."""

    pk = models.CompositePrimaryKey("level", "index")
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)


class SigningKey(models.Model):
    """A public key the ledger has signed with, valid from `valid_from` until the next key's `valid_from`."""

    key_id = models.CharField(max_length=8, primary_key=True)
    public_key = models.BinaryField(max_length=32)
    valid_from = models.DateTimeField(unique=True)

    class Meta:
        ordering = ["valid_from"]


class Checkpoint(models.Model):
    """A signed statement of the tree's size and root: a C2SP tlog-checkpoint signed note."""

    tree_size = models.BigIntegerField(primary_key=True)
    root_hash = models.BinaryField(max_length=32)
    issued_at = models.DateTimeField()
    key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="checkpoints")
    note = models.TextField()

    class Meta:
        ordering = ["tree_size"]
