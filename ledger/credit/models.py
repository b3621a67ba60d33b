"""Credit tables: transfers (append-only), account balances, the credit order, and the facts the rules read.

`CreditTransfer` and `CreditUse` (whose point chains statements print) refuse UPDATE and DELETE by trigger
like the ledger. The other tables are what the rules have made of the entries so far (balances under a
CHECK that member and pool accounts never go negative, and the facts of `ledger.credit.engine.CreditState`);
`manage.py credit_audit` rebuilds them from the ledger and diffs.
"""

from __future__ import annotations

from django.db import models

APPEND_ONLY_TABLES = ("credit_credittransfer", "credit_credituse")
# A transfer's own fields, as ledger.credit.engine.Transfer has them (its entry is the row's foreign key).
TRANSFER_FIELDS = (
    "id",
    "order",
    "leg",
    "flag",
    "debit",
    "credit",
    "amount",
    "unit",
    "code",
    "ref",
    "rules",
    "pending_id",
    "role",
)


class CreditClock(models.Model):
    """One row: the next credit order. Taking it (an UPDATE) is the lock that runs credit writers in turn."""

    next_order = models.BigIntegerField(default=0)


class CreditTransfer(models.Model):
    """A double-entry transfer (TigerBeetle semantics): pending, posted, or the post/void of a pending one."""

    id = models.CharField(max_length=32, primary_key=True)
    entry = models.ForeignKey("ledger.LedgerEntry", on_delete=models.PROTECT, related_name="+")
    order = models.BigIntegerField(db_index=True)
    leg = models.CharField(max_length=80)
    flag = models.CharField(max_length=16)
    debit = models.CharField(max_length=64, db_index=True)
    credit = models.CharField(max_length=64, db_index=True)
    amount = models.BigIntegerField()
    unit = models.CharField(max_length=2)
    code = models.CharField(max_length=24)
    ref = models.CharField(max_length=64, db_index=True)
    rules = models.CharField(max_length=64)
    pending_id = models.CharField(max_length=32, blank=True)
    role = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="credit_transfer_amount_positive"),
            models.CheckConstraint(condition=models.Q(unit__in=["CR", "PT"]), name="credit_transfer_unit"),
            models.UniqueConstraint(
                fields=["pending_id"],
                condition=~models.Q(pending_id=""),
                name="credit_transfer_resolves_once",
            ),
        ]


class CreditAccount(models.Model):
    """Running balances of one account (a cache of its transfers, kept in the same transaction)."""

    account = models.CharField(max_length=64, primary_key=True)
    constrained = models.BooleanField(default=False)
    debits_posted = models.BigIntegerField(default=0)
    credits_posted = models.BigIntegerField(default=0)
    debits_pending = models.BigIntegerField(default=0)
    credits_pending = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(constrained=False)
                | models.Q(credits_posted__gte=models.F("debits_posted") + models.F("debits_pending")),
                name="credit_account_never_negative",
            )
        ]


class CreditRules(models.Model):
    """A published rules document (from `credit.rules_changed`)."""

    hash = models.CharField(max_length=64, primary_key=True)
    version = models.IntegerField()
    params = models.JSONField()
    order = models.BigIntegerField(unique=True)


class CreditEpoch(models.Model):
    """An epoch (calendar month): its budget, rules, and once settled, its settlement and flags."""

    epoch = models.CharField(max_length=7, primary_key=True)
    budget = models.BigIntegerField()
    rules = models.CharField(max_length=64)
    opened_order = models.BigIntegerField()
    settled_order = models.BigIntegerField(default=-1)
    settlement = models.JSONField(default=dict)


class CreditMember(models.Model):
    """A member as the rules see it: its affiliation group and when it was admitted (us since 1970)."""

    member = models.BigIntegerField(primary_key=True)
    group = models.CharField(max_length=64, db_index=True)
    admitted_us = models.BigIntegerField(default=0)


class CreditVersion(models.Model):
    """The group that first registered a file (by SHA-256)."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    group = models.CharField(max_length=64)


class CreditListing(models.Model):
    """A group that has listed at least one dataset."""

    group = models.CharField(max_length=64, primary_key=True)


class CreditRequest(models.Model):
    """An access request's times and parties as the fee and rubber-stamp rules read them."""

    request = models.BigIntegerField(primary_key=True)
    provider_member = models.BigIntegerField()
    consumer_member = models.BigIntegerField()
    tier = models.CharField(max_length=16)
    requested_us = models.BigIntegerField()
    first_approval_us = models.BigIntegerField(default=0)
    granted_us = models.BigIntegerField(default=0)
    grant = models.BigIntegerField(default=0, db_index=True)
    granted_order = models.BigIntegerField(default=-1)
    granted_epoch = models.CharField(max_length=7, blank=True, db_index=True)


class CreditUse(models.Model):
    """A download as the rules saw it: credited or why not, and the chain of its usage points."""

    order = models.BigIntegerField(primary_key=True)
    entry_leaf = models.CharField(max_length=64)
    epoch = models.CharField(max_length=7, blank=True)
    day = models.IntegerField(db_index=True)
    dataset = models.BigIntegerField()
    version_sha256 = models.CharField(max_length=64)
    provider_member = models.BigIntegerField(db_index=True)
    provider_group = models.CharField(max_length=64)
    consumer_member = models.BigIntegerField()
    consumer_group = models.CharField(max_length=64)
    k = models.IntegerField()
    chain = models.JSONField()
    points = models.BigIntegerField()
    credited = models.BooleanField()
    reason = models.CharField(max_length=24, blank=True)

    class Meta:
        indexes = [models.Index(fields=["epoch", "dataset", "consumer_group"], name="credit_use_repeat")]


class CreditAdjustment(models.Model):
    """A proposed correction waiting for its second approver (the entry is written on approval), unless
    withdrawn first (a mistaken proposal: nothing was posted, so nothing is written to the ledger)."""

    member = models.BigIntegerField()
    amount_mcr = models.BigIntegerField()
    reason = models.TextField()
    proposed_by = models.ForeignKey("consortium.User", on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        "consortium.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        "consortium.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)


class AffiliationClaim(models.Model):
    """A member's declaration of a parent, waiting for the parent's admins to accept it: a group is never
    joined without its consent (joining an old group would skip the trust ramp and the fresh-cluster rule)."""

    member = models.BigIntegerField(db_index=True)
    parent = models.BigIntegerField(db_index=True)
    declared_by = models.ForeignKey("consortium.User", on_delete=models.PROTECT, related_name="+")
    declared_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        "consortium.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    accepted = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=models.Q(decided_at__isnull=True), name="credit_one_open_claim"
            )
        ]
