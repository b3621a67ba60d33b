"""Member enterprises, industrial clusters, people with their roles, and per-member API keys."""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django.db.models.functions import Lower
from rest_framework_api_key.models import AbstractAPIKey


class Sector(models.TextChoices):
    """GB/T 4754-2017 industry sections."""

    A = "A", "A Agriculture, forestry, animal husbandry and fishery"
    B = "B", "B Mining"
    C = "C", "C Manufacturing"
    D = "D", "D Electricity, heat, gas and water production and supply"
    E = "E", "E Construction"
    F = "F", "F Wholesale and retail trade"
    G = "G", "G Transport, storage and postal services"
    H = "H", "H Accommodation and catering"
    I = "I", "I Information transmission, software and information technology services"  # noqa: E741
    J = "J", "J Finance"
    K = "K", "K Real estate"
    L = "L", "L Leasing and business services"
    M = "M", "M Scientific research and technical services"
    N = "N", "N Water conservancy, environment and public facilities management"
    O = "O", "O Resident services, repair and other services"  # noqa: E741
    P = "P", "P Education"
    Q = "Q", "Q Health and social work"
    R = "R", "R Culture, sports and entertainment"
    S = "S", "S Public administration, social security and social organisations"
    T = "T", "T International organisations"


class SizeClass(models.TextChoices):
    """Enterprise size classes of the NBS classification (large, medium, small, micro)."""

    LARGE = "large", "Large"
    MEDIUM = "medium", "Medium"
    SMALL = "small", "Small"
    MICRO = "micro", "Micro"


class MemberStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    WITHDRAWN = "withdrawn", "Withdrawn"
    DECLINED = "declined", "Declined"


class MemberRole(models.TextChoices):
    """A person's role inside one member firm."""

    ADMIN = "member_admin", "Member admin"
    STEWARD = "data_steward", "Data steward"
    ANALYST = "analyst", "Analyst"
    SYSTEM = "system", "Partner system (API key)"


class ConsortiumRole(models.TextChoices):
    """Roles of the consortium's own staff, who belong to no member."""

    OFFICER = "officer", "Consortium officer"
    SECURITY_OFFICER = "security_officer", "Security officer"
    AUDITOR = "auditor", "Auditor"


class Cluster(models.Model):
    """An industrial cluster: a regional group of firms in related industries."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    region = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """A member enterprise of the consortium, identified by its unified social credit code."""

    legal_name = models.CharField(max_length=200)
    credit_code = models.CharField(
        "unified social credit code", max_length=18, unique=True, help_text="18 characters, GB 32100-2015."
    )
    size_class = models.CharField(max_length=10, choices=SizeClass.choices)
    sector = models.CharField(max_length=1, choices=Sector.choices)
    region = models.CharField(max_length=100, help_text="Province or municipality.")
    clusters = models.ManyToManyField(Cluster, blank=True, related_name="members")
    contact_name = models.CharField(max_length=100)
    contact_email = models.EmailField()
    contact_phone = models.CharField(max_length=30, blank=True)
    status = models.CharField(max_length=10, choices=MemberStatus.choices, default=MemberStatus.APPLIED)
    status_changed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Every user of the member is in this group, so object permissions granted to a member reach them all.
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="member")

    class Meta:
        ordering = ["legal_name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=MemberStatus.values), name="member_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(size_class__in=SizeClass.values), name="member_size_valid"
            ),
            models.CheckConstraint(condition=models.Q(sector__in=Sector.values), name="member_sector_valid"),
        ]

    def __str__(self) -> str:
        return self.legal_name

    @property
    def is_active(self) -> bool:
        return self.status == MemberStatus.ACTIVE


class MemberStatusChange(models.Model):
    """One step of a member's lifecycle: who moved it, when, from what to what and why. Never edited."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=10, choices=MemberStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=MemberStatus.choices)
    actor = models.ForeignKey("User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["member_id", "at", "id"]


class User(AbstractUser):
    """A person (or a partner system's API key) with at most one member and at most one consortium role."""

    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    member_role = models.CharField(max_length=20, choices=MemberRole.choices, blank=True)
    consortium_role = models.CharField(max_length=20, choices=ConsortiumRole.choices, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(member__isnull=True) & models.Q(member_role=""))
                | (models.Q(member__isnull=False) & ~models.Q(member_role="")),
                name="user_member_role_iff_member",
            ),
            models.CheckConstraint(
                condition=models.Q(member__isnull=True) | models.Q(consortium_role=""),
                name="user_consortium_role_only_without_member",
            ),
            # One person per name whatever its case, as the services check (username__iexact): the check
            # alone let two requests at once create "Wang" and "wang".
            models.UniqueConstraint(
                Lower("username"),
                name="user_username_unique_ignoring_case",
                violation_error_message="A user with that username already exists.",
            ),
        ]

    @property
    def is_consortium_staff(self) -> bool:
        return bool(self.consortium_role)

    def get_full_name(self) -> str:
        """The name as its owner writes it: a Chinese (Han) name family name first with no space (王小明),
        any other "first last" as Django has it."""
        first, last = self.first_name.strip(), self.last_name.strip()
        if first and last and _HAN_NAME.fullmatch(first + last):
            return last + first
        return super().get_full_name()


# Han characters (CJK Unified Ideographs with their extensions, and the compatibility block), and the
# middle dot of transcribed foreign names (U+00B7).
_HAN_NAME = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f\u00b7]+")


class APIKeyScope(models.TextChoices):
    READ = "read", "Read the catalog and own records"
    REQUEST = "request", "Request access and download under grants"
    MANAGE = "manage", "Manage datasets, decisions and people (no passwords; roles within the key's scopes)"


class MemberAPIKey(AbstractAPIKey):
    """A partner system's key: belongs to one member, acts through its own system user, with scopes."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="api_keys")
    system_user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="api_key")
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="created_api_keys")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "member API key"
        verbose_name_plural = "member API keys"


class SentForm(models.Model):
    """A portal create form's one-time token, taken by its first sending in the transaction that makes the
    object (consortium.sent_forms): a second sending waits on the unique index and finds what it made."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    form = models.CharField(max_length=40)
    token = models.CharField(max_length=64)
    made = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "form", "token"], name="sent_form_token_unique"),
        ]
