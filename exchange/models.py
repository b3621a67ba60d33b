"""Datasets, their immutable versions, access policies, access requests and grants.

Fields, constraints and trivial properties only: every rule lives in exchange.policies (what is allowed)
and exchange.services (what changes, always with its ledger entry).
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from guardian.models import GroupObjectPermissionBase

from consortium.models import Member, Sector, User


class Grade(models.IntegerChoices):
    """MIIT industrial data grading (GB/T 43697: general / important / core), by harm if leaked."""

    LEVEL_1 = 1, "Level 1 (general)"
    LEVEL_2 = 2, "Level 2 (important)"
    LEVEL_3 = 3, "Level 3 (core)"


class DataDomain(models.TextChoices):
    RND = "rnd", "Research and development"
    PRODUCTION = "production", "Production"
    OPERATIONS = "operations", "Operations and maintenance"
    MANAGEMENT = "management", "Management"
    EXTERNAL = "external", "External"


class UpdateFrequency(models.TextChoices):
    ONCE = "once", "Once"
    CONTINUOUS = "continuous", "Continuous"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    ANNUAL = "annual", "Annual"
    IRREGULAR = "irregular", "Irregular"


class Rights(models.TextChoices):
    """What a grant lets the consumer do with the data."""

    USE = "use", "Use only"
    USE_AND_OPERATE = "use_and_operate", "Use and product operation"


class DatasetStatus(models.TextChoices):
    LISTED = "listed", "Listed"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Tier(models.TextChoices):
    OPEN = "open", "Open"
    RESTRICTED = "restricted", "Restricted"
    CONFIDENTIAL = "confidential", "Confidential"


class Purpose(models.TextChoices):
    """The fixed vocabulary of declared purposes (ODRL `purpose` constraint values)."""

    RESEARCH = "research", "Research"
    PRODUCT_DEVELOPMENT = "product_development", "Product development"
    AI_TRAINING = "ai_training", "AI model training"
    QUALITY_BENCHMARKING = "quality_benchmarking", "Quality benchmarking"
    OPERATIONS_OPTIMISATION = "operations_optimisation", "Operations optimisation"
    SUPPLY_CHAIN_COORDINATION = "supply_chain_coordination", "Supply-chain coordination"
    REGULATORY_REPORTING = "regulatory_reporting", "Regulatory reporting"


class RequestState(models.TextChoices):
    PENDING = "pending", "Pending (owner's steward decides)"
    STEWARD_APPROVED = "steward_approved", "Approved by the steward (security officer decides)"
    GRANTED = "granted", "Granted"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn by the requester"
    EXPIRED = "expired", "Expired undecided"


UNDECIDED_STATES = (RequestState.PENDING, RequestState.STEWARD_APPROVED)


class Dataset(models.Model):
    """A member's dataset, described with DCAT-style metadata; its files are its versions."""

    owner = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="datasets")
    title = models.CharField(max_length=200)
    description = models.TextField()
    keywords = models.JSONField(default=list, blank=True, help_text="dcat:keyword, a list of strings.")
    sector = models.CharField(
        max_length=1, choices=Sector.choices, help_text="GB/T 4754 section (dcat:theme)."
    )
    data_domain = models.CharField(max_length=12, choices=DataDomain.choices)
    spatial_coverage = models.CharField(max_length=200, blank=True)
    temporal_start = models.DateField(null=True, blank=True)
    temporal_end = models.DateField(null=True, blank=True)
    update_frequency = models.CharField(
        max_length=12, choices=UpdateFrequency.choices, default=UpdateFrequency.IRREGULAR
    )
    licence = models.CharField(max_length=100, help_text="Name or SPDX identifier of the licence.")
    contact_name = models.CharField(max_length=100)
    contact_email = models.EmailField()
    grade = models.PositiveSmallIntegerField(choices=Grade.choices)
    personal_information = models.BooleanField(default=False, help_text="Contains personal information.")
    sources = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="derived", help_text="Lineage: derived from."
    )
    rights = models.CharField(max_length=16, choices=Rights.choices, default=Rights.USE)
    status = models.CharField(max_length=10, choices=DatasetStatus.choices, default=DatasetStatus.LISTED)
    status_changed_at = models.DateTimeField()
    withdrawn_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(grade__in=Grade.values), name="dataset_grade_valid"),
            models.CheckConstraint(
                condition=models.Q(status__in=DatasetStatus.values), name="dataset_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(data_domain__in=DataDomain.values), name="dataset_domain_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(temporal_start__isnull=True)
                | models.Q(temporal_end__isnull=True)
                | models.Q(temporal_end__gte=models.F("temporal_start")),
                name="dataset_temporal_ordered",
            ),
        ]
        indexes = [models.Index(fields=["status", "grade"], name="dataset_status_grade")]
        # Held by a member's group exactly while it holds an active grant on the dataset (the services
        # assign and remove them with the grant and its entry); download only where the grant allows it.
        permissions = [
            ("use_dataset", "Use the dataset under an active grant"),
            ("download_dataset", "Download the dataset's files under an active grant"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_listed(self) -> bool:
        return self.status == DatasetStatus.LISTED


def version_upload_to(version: DatasetVersion, filename: str) -> str:
    # Number and checksum in the path: two versions can never share a name, so nothing is overwritten.
    return f"datasets/{version.dataset_id}/v{version.number}-{version.sha256[:16]}/{filename}"


class DatasetVersion(models.Model):
    """One immutable file of a dataset. A new version never replaces an old one; withdrawal is a mark."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to=version_upload_to, max_length=400)
    filename = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    media_type = models.CharField(max_length=100)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    withdrawn_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["dataset_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="version_number_unique"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id} v{self.number}"


class AccessPolicy(models.Model):
    """The one policy of a dataset: its tier, what it may be used for, for how long, by whom and at what
    price. `revision` counts changes; requests and grants record the hash of the revision in force."""

    dataset = models.OneToOneField(Dataset, on_delete=models.PROTECT, related_name="policy")
    tier = models.CharField(max_length=12, choices=Tier.choices)
    purposes = models.JSONField(default=list, help_text="Allowed purposes, from the Purpose vocabulary.")
    max_duration_days = models.PositiveIntegerField()
    download_quota = models.PositiveIntegerField(help_text="Downloads per grant; 0 for confidential.")
    eligible_size_classes = models.JSONField(default=list, blank=True, help_text="Empty: any size class.")
    eligible_sectors = models.JSONField(default=list, blank=True, help_text="Empty: any sector.")
    eligible_clusters = models.JSONField(default=list, blank=True, help_text="Cluster slugs; empty: any.")
    allow_list = models.JSONField(default=list, blank=True, help_text="Member ids; if any, only these.")
    deny_list = models.JSONField(default=list, blank=True, help_text="Member ids that are never eligible.")
    price_credits = models.PositiveIntegerField(default=0)
    terms = models.TextField(help_text="The terms a requester accepts.")
    terms_version = models.PositiveIntegerField(default=1)
    revision = models.PositiveIntegerField(default=1)
    salt = models.CharField(
        max_length=32,
        blank=True,
        default="",
        editable=False,
        help_text="Random hex in the policy's hash, new each revision: who sees only the hash (a "
        "requester) cannot recover the allow and deny lists by hashing guesses. Empty for policies set "
        "before it was kept.",
    )
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "access policies"
        constraints = [
            models.CheckConstraint(condition=models.Q(tier__in=Tier.values), name="policy_tier_valid"),
            models.CheckConstraint(
                condition=models.Q(max_duration_days__gte=1), name="policy_duration_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(tier=Tier.CONFIDENTIAL) | models.Q(download_quota=0),
                name="policy_confidential_no_download",
            ),
        ]

    def __str__(self) -> str:
        return f"policy of {self.dataset_id} ({self.tier})"


class AccessRequest(models.Model):
    """A member's request to use a dataset for a declared purpose and duration, and its decisions."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="access_requests")
    requester_member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="access_requests")
    requester = models.ForeignKey(User, on_delete=models.PROTECT, related_name="access_requests")
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    justification = models.TextField()
    duration_days = models.PositiveIntegerField()
    tier = models.CharField(max_length=12, choices=Tier.choices, help_text="The tier when submitted.")
    policy_hash = models.CharField(max_length=64, help_text="SHA-256 of the policy in force when submitted.")
    accepted_terms_version = models.PositiveIntegerField()
    accepted_price_credits = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The credit price when submitted; null for requests made before it was kept.",
    )
    state = models.CharField(max_length=16, choices=RequestState.choices, default=RequestState.PENDING)
    created_at = models.DateTimeField()
    steward_decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    steward_decided_at = models.DateTimeField(null=True, blank=True)
    officer_decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    officer_decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    steward_approval_reason = models.TextField(
        blank=True,
        help_text=(
            "The steward's reason for passing a confidential request to the security officer: the officer's "
            "decision, or a withdrawal, replaces decision_reason but not this."
        ),
    )
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it left the undecided states.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=RequestState.values), name="request_state_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(duration_days__gte=1), name="request_duration_positive"
            ),
            # At most one undecided request per member and dataset; the database settles a race.
            models.UniqueConstraint(
                fields=["requester_member", "dataset"],
                condition=models.Q(state__in=[RequestState.PENDING, RequestState.STEWARD_APPROVED]),
                name="request_one_undecided_per_member",
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="request_state_created")]

    def __str__(self) -> str:
        return f"request {self.pk} ({self.state})"


class GrantState(models.TextChoices):
    """Where a grant stands at a moment (Grant.state_at); not stored: it follows from the clock."""

    PENDING = "pending", "Not started yet"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class Grant(models.Model):
    """What an approved request becomes: a window of use with a download quota, revocable at any time."""

    request = models.OneToOneField(AccessRequest, on_delete=models.PROTECT, related_name="grant")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="grants")
    grantee = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="grants")
    tier = models.CharField(max_length=12, choices=Tier.choices)
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    policy_hash = models.CharField(max_length=64)
    version_sha256 = models.CharField(max_length=64, blank=True, help_text="Latest version when granted.")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    download_quota = models.PositiveIntegerField()
    downloads_remaining = models.PositiveIntegerField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    revoked_reason = models.TextField(blank=True)
    expired_at = models.DateTimeField(
        null=True, blank=True, help_text="When the expiry task recorded the end of the window."
    )
    expiry_notice_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When both members were told the grant is about to expire."
    )

    class Meta:
        ordering = ["-valid_from", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__gt=models.F("valid_from")), name="grant_window_ordered"
            ),
            models.CheckConstraint(
                condition=models.Q(downloads_remaining__lte=models.F("download_quota")),
                name="grant_remaining_within_quota",
            ),
        ]

    def __str__(self) -> str:
        return f"grant {self.pk}"

    def state_at(self, now: datetime) -> str:
        """`revoked`, `expired`, `pending` (before valid_from) or `active`; the quota is separate."""
        if self.revoked_at is not None:
            return GrantState.REVOKED
        if self.expired_at is not None or now >= self.valid_until:
            return GrantState.EXPIRED
        if now < self.valid_from:
            return GrantState.PENDING
        return GrantState.ACTIVE

    @staticmethod
    def in_state(state: str, now: datetime) -> models.Q:
        """The grants whose state_at(now) is `state`, as a query: the same rule, kept beside it."""
        live = models.Q(revoked_at__isnull=True, expired_at__isnull=True, valid_until__gt=now)
        return {
            GrantState.REVOKED: models.Q(revoked_at__isnull=False),
            GrantState.EXPIRED: models.Q(revoked_at__isnull=True) & ~live,
            GrantState.PENDING: live & models.Q(valid_from__gt=now),
            GrantState.ACTIVE: live & models.Q(valid_from__lte=now),
        }[GrantState(state)]


class DatasetGroupObjectPermission(GroupObjectPermissionBase):
    """guardian's store of which member groups hold which permission on which dataset: a direct foreign
    key (not guardian's generic object_pk text column), so a list filters with one integer subquery."""

    content_object = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="group_permissions")

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "dataset group permission"
