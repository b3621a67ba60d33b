"""Serializers of the exchange API: they shape and type data; the services judge it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from consortium.api.fields import FreeTextField, IdField, SlugTextField, TextField, WholeNumberField
from consortium.models import Member, User
from exchange import policies
from exchange.models import AccessPolicy, AccessRequest, Dataset, DatasetVersion, Grade, Grant, GrantState
from exchange.services.datasets import MAX_KEYWORDS
from ledger.receipts import EntryReceiptSerializer


class OwnerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Member
        fields = ["id", "legal_name", "size_class", "sector"]
        read_only_fields = fields


# An owner-set price, in whole credits: it is recorded under this name in the signed request and grant
# entries, and the credit rules v1 do not charge it (they charge a fee by tier, in mCR, as `fee_mcr`).
PRICE_CREDITS_HELP = (
    "The owner's price in whole credits (1 CR = 1000 mCR), recorded in the request's and grant's ledger "
    "entries and accepted with the terms. Not what is charged: the credit rules v1 charge a fee by tier, "
    "in mCR (`fee_mcr` and `shortfall_mcr` when a request is refused with `insufficient_credit`)."
)


class PolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessPolicy
        fields = [
            "tier",
            "purposes",
            "max_duration_days",
            "download_quota",
            "eligible_size_classes",
            "eligible_sectors",
            "eligible_clusters",
            "allow_list",
            "deny_list",
            "price_credits",
            "terms",
            "terms_version",
            "revision",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"price_credits": {"help_text": PRICE_CREDITS_HELP}}


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class EligibilitySerializer(serializers.Serializer):
    """The policy engine's answer for the caller's member, before any purpose or duration is chosen."""

    eligible = serializers.BooleanField(source="allowed")
    reasons = ReasonSerializer(many=True)


class PublicPolicySerializer(serializers.ModelSerializer):
    """A policy as members other than the owner read it: no allow or deny list, and whether the caller's
    member is eligible (null for an actor of no member)."""

    eligibility = serializers.SerializerMethodField()

    class Meta:
        model = AccessPolicy
        fields = [
            "tier",
            "purposes",
            "max_duration_days",
            "download_quota",
            "eligible_size_classes",
            "eligible_sectors",
            "eligible_clusters",
            "price_credits",
            "terms",
            "terms_version",
            "revision",
            "updated_at",
            "eligibility",
        ]
        read_only_fields = fields
        extra_kwargs = {"price_credits": {"help_text": PRICE_CREDITS_HELP}}

    @extend_schema_field(EligibilitySerializer(allow_null=True))
    def get_eligibility(self, policy: AccessPolicy) -> dict[str, Any] | None:
        decision = self.context.get("eligibility")
        return EligibilitySerializer(decision).data if decision is not None else None


class DatasetSerializer(serializers.ModelSerializer):
    owner = OwnerSerializer(read_only=True)
    sources: serializers.PrimaryKeyRelatedField[Dataset] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True
    )
    tier = serializers.SerializerMethodField()
    version_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "owner",
            "title",
            "description",
            "keywords",
            "sector",
            "data_domain",
            "spatial_coverage",
            "temporal_start",
            "temporal_end",
            "update_frequency",
            "licence",
            "contact_name",
            "contact_email",
            "grade",
            "personal_information",
            "sources",
            "rights",
            "status",
            "status_changed_at",
            "tier",
            "version_count",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))  # null while the dataset has no policy
    def get_tier(self, dataset: Dataset) -> str | None:
        policy = getattr(dataset, "policy", None)
        return policy.tier if policy is not None else None


class DatasetRegisterSerializer(serializers.Serializer):
    """Choice fields are plain strings so the service can name exactly what is wrong."""

    title = TextField(max_length=200)
    description = FreeTextField()
    keywords = serializers.ListField(
        child=TextField(max_length=50),
        required=False,
        default=list,
        help_text=f"At most {MAX_KEYWORDS} distinct keywords (more: 400 `too_many_keywords`); a repeat "
        "counts once.",
    )
    sector = TextField(max_length=5)
    data_domain = TextField(max_length=20)
    spatial_coverage = TextField(max_length=200, required=False, default="", allow_blank=True)
    temporal_start = serializers.DateField(required=False, allow_null=True, default=None)
    temporal_end = serializers.DateField(required=False, allow_null=True, default=None)
    update_frequency = TextField(max_length=20, required=False, default="irregular")
    licence = TextField(max_length=100)
    contact_name = TextField(max_length=100)
    contact_email = TextField(max_length=254)
    grade = WholeNumberField(
        required=False,
        allow_null=True,
        default=None,
        service_range=(min(Grade.values), max(Grade.values)),
        help_text="1, 2 or 3; default: highest of the sources.",
    )
    personal_information = serializers.BooleanField(required=False, default=False)
    sources = serializers.ListField(child=IdField(), required=False, default=list)
    rights = TextField(max_length=20, required=False, default="use")

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        data["source_ids"] = data.pop("sources")
        return data


class PolicySetSerializer(serializers.Serializer):
    tier = TextField(max_length=20, required=False, allow_null=True, default=None)
    purposes = serializers.ListField(child=TextField(max_length=40), allow_empty=True)
    terms = FreeTextField()
    # No caps of their own: the policy rules refuse a duration or a quota out of range with their codes
    # (duration_invalid, duration_over_grade_limit; quota_required, confidential_no_download,
    # quota_too_large), before anything is written.
    max_duration_days = WholeNumberField(
        required=False,
        allow_null=True,
        default=None,
        service_range=(policies.MIN_DURATION_DAYS, policies.MAX_DURATION_DAYS),
    )
    download_quota = WholeNumberField(
        required=False,
        allow_null=True,
        default=None,
        service_range=(0, policies.MAX_DOWNLOAD_QUOTA),
    )
    eligible_size_classes = serializers.ListField(
        child=TextField(max_length=20), required=False, default=list
    )
    eligible_sectors = serializers.ListField(child=TextField(max_length=5), required=False, default=list)
    eligible_clusters = serializers.ListField(child=SlugTextField(), required=False, default=list)
    allow_list = serializers.ListField(child=IdField(), required=False, default=list)
    deny_list = serializers.ListField(child=IdField(), required=False, default=list)
    price_credits = WholeNumberField(
        required=False,
        default=0,
        service_range=(0, policies.MAX_PRICE_CREDITS),
        help_text=PRICE_CREDITS_HELP,
    )


class VersionSerializer(serializers.ModelSerializer):
    """A version's metadata. Its uploader is named only to those who may see that person (context
    `visible_people`: ids, from consortium.selectors.user_list_for): nobody sees another member's people."""

    created_by = serializers.SerializerMethodField(
        help_text="The uploader's username, for those who may see the person (the uploader, their member's "
        "admins, consortium officers); null for anyone else."
    )

    class Meta:
        model = DatasetVersion
        fields = [
            "number",
            "filename",
            "sha256",
            "size",
            "media_type",
            "created_by",
            "created_at",
            "withdrawn_at",
            "withdrawn_reason",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_created_by(self, version: DatasetVersion) -> str | None:
        if version.created_by_id in self.context.get("visible_people", ()):
            return version.created_by.username
        return None


class VersionUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    media_type = TextField(max_length=100, required=False, default="")
    # Unbounded here: the service says what is wrong with a digest that is not one (invalid_sha256).
    sha256 = TextField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The file's SHA-256, 64 hexadecimal digits: refused if it does not match.",
    )


class AccessRequestSerializer(serializers.ModelSerializer):
    requester: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    steward_decided_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    officer_decided_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    grant = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "dataset",
            "requester_member",
            "requester",
            "purpose",
            "justification",
            "duration_days",
            "tier",
            "policy_hash",
            "accepted_terms_version",
            "state",
            "created_at",
            "steward_decided_by",
            "steward_decided_at",
            "officer_decided_by",
            "officer_decided_at",
            "decision_reason",
            "steward_approval_reason",
            "closed_at",
            "grant",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))  # null unless the request is granted
    def get_grant(self, request: AccessRequest) -> int | None:
        grant = getattr(request, "grant", None) if request.state == "granted" else None
        return grant.pk if grant is not None else None


class AccessRequestSubmitSerializer(serializers.Serializer):
    dataset = IdField()
    purpose = TextField(max_length=40)
    justification = FreeTextField(max_length=4000)
    duration_days = WholeNumberField(  # past the policy's maximum: the engine's duration_over_max
        service_range=(policies.MIN_DURATION_DAYS, policies.MAX_DURATION_DAYS),
        help_text="Days, at most the policy's `max_duration_days`.",
    )
    accepted_terms_version = WholeNumberField(
        required=False, allow_null=True, default=None, help_text="The policy's terms_version you accept."
    )


class DecisionReasonSerializer(serializers.Serializer):
    reason = FreeTextField(max_length=2000, required=False, default="", allow_blank=True)


# How a grant's data reaches the grantee: DESIGN.md's "delivery" column of the tiers.
GRANT_DELIVERIES = [
    ("download", "Raw download, within the grant's quota and window"),
    ("on_platform", "On-platform use only: no raw download, the download quota is 0 (confidential tier)"),
]


class GrantSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    delivery = serializers.SerializerMethodField()
    revoked_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Grant
        fields = [
            "id",
            "request",
            "dataset",
            "grantee",
            "tier",
            "purpose",
            "policy_hash",
            "version_sha256",
            "valid_from",
            "valid_until",
            "download_quota",
            "downloads_remaining",
            "delivery",
            "state",
            "revoked_at",
            "revoked_by",
            "revoked_reason",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ChoiceField(
            choices=GrantState.choices,
            help_text="Now: pending (before valid_from), active, expired or revoked. Filter with ?state=.",
        )
    )
    def get_state(self, grant: Grant) -> str:
        return grant.state_at(self.context["now"])

    @extend_schema_field(
        serializers.ChoiceField(
            choices=GRANT_DELIVERIES,
            help_text=(
                "How the data is delivered: `download` (POST .../download/ within the quota and window), or "
                "`on_platform` for a confidential-tier grant, which is for on-platform use only and never "
                "gives a raw download (the download answers 403 `no_raw_download`)."
            ),
        )
    )
    def get_delivery(self, grant: Grant) -> str:
        return "download" if policies.allows_raw_download(grant.tier) else "on_platform"


class DecisionResultSerializer(serializers.Serializer):
    request = AccessRequestSerializer()
    receipts = EntryReceiptSerializer(many=True)


class GrantResultSerializer(serializers.Serializer):
    grant = GrantSerializer()
    receipts = EntryReceiptSerializer(many=True)
