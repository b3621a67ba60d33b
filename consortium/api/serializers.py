"""Serializers for members, people, API keys and clusters: they shape and type data, services judge it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from consortium.api.fields import (
    FreeTextField,
    IdField,
    ServiceChoiceField,
    SlugTextField,
    TextField,
    ZonedDateTimeField,
)
from consortium.models import (
    APIKeyScope,
    Cluster,
    Member,
    MemberAPIKey,
    MemberStatus,
    MemberStatusChange,
    SizeClass,
    User,
)
from consortium.roles import PERSON_ROLES


def required_by_service(**kwargs: Any) -> TextField:
    """A text field the service requires, as a view reads it: missing, blank or white space only, it is
    passed on as "" for the service to refuse as `required`, naming it beside every other field missing. A
    required field refused it first as `validation_error`. A value that is not text (a number, a list) still
    is."""
    return TextField(required=False, default="", allow_blank=True, **kwargs)


class ClusterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Cluster
        fields = ["slug", "name", "region"]


class MemberSerializer(serializers.ModelSerializer):
    clusters: serializers.SlugRelatedField[Cluster] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )

    class Meta:
        model = Member
        fields = [
            "id",
            "legal_name",
            "credit_code",
            "size_class",
            "sector",
            "region",
            "clusters",
            "contact_name",
            "contact_email",
            "contact_phone",
            "status",
            "status_changed_at",
            "created_at",
        ]
        read_only_fields = fields


class MemberApplicationSerializer(MemberSerializer):
    """What an applicant (anyone) gets back: the member record without its creation time. A firm declined
    before applies again under the same record (consortium.services.member_apply), whose creation time
    would tell whoever applies under the firm's code when it first applied, and so that it was declined."""

    class Meta(MemberSerializer.Meta):
        fields = [name for name in MemberSerializer.Meta.fields if name != "created_at"]
        read_only_fields = fields


# Codes are plain strings here so the service can say exactly what is wrong; the view reads the body with
# MemberApplyBodySerializer.
class MemberApplySerializer(serializers.Serializer):
    """A firm's application for membership. Every field but `clusters` and `contact_phone` is required:
    those missing or blank are refused together, 400 `required` with `errors` naming each; text longer
    than its field's maximum length is refused likewise, 400 `too_long`."""

    legal_name = TextField(max_length=200)
    credit_code = TextField(max_length=40, help_text="18 characters, GB 32100-2015.")
    size_class = TextField(max_length=20, help_text=f"One of: {', '.join(SizeClass.values)}.")
    sector = TextField(max_length=5, help_text="GB/T 4754 industry section, A to T.")
    region = TextField(max_length=100)
    clusters = serializers.ListField(
        child=SlugTextField(), required=False, default=list, help_text="Cluster slugs."
    )
    contact_name = TextField(max_length=100)
    contact_email = TextField(max_length=254)
    contact_phone = TextField(max_length=30, required=False, default="", allow_blank=True)

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        data["cluster_slugs"] = data.pop("clusters")
        return data


class MemberApplyBodySerializer(MemberApplySerializer):
    """MemberApplySerializer as the view reads it: member_apply judges what is missing or blank (`required`,
    naming each field), text too long for its column (`too_long`, naming each) and the credit code, size
    class and sector (their own codes), so their fields do not refuse them first."""

    legal_name = required_by_service()
    credit_code = required_by_service()
    size_class = required_by_service()
    sector = required_by_service()
    region = required_by_service()
    contact_name = required_by_service()
    contact_email = required_by_service()
    contact_phone = TextField(required=False, default="", allow_blank=True)


class OnlyTheseFields(serializers.Serializer):
    """Refuses (400, naming each) a field it does not take, where DRF's default ignores it: a client must
    not believe it changed what cannot be changed there (a password, a member's legal name)."""

    other_fields_refusal = "This cannot be changed here."

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Here rather than in validate(), which DRF skips once a field is refused: a body with a field of
        # the wrong type and one that cannot change named only the first, the second after a resend.
        others = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        refusals = {name: [self.other_fields_refusal] for name in others}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if refusals and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **refusals}) from None
            raise
        if refusals:
            raise serializers.ValidationError(refusals, code="read_only")
        return value


# The view reads the body with MemberContactBodySerializer.
class MemberContactSerializer(OnlyTheseFields):
    """New contact details for a member: any of the three; one left out keeps its value. An empty name or
    e-mail is refused as 400 `required`, one longer than its maximum length as 400 `too_long`, naming
    each."""

    other_fields_refusal = (
        "Only the contact details can be changed here; the rest of the record is a consortium "
        "officer's matter."
    )

    contact_name = TextField(max_length=100, required=False, allow_blank=True)
    contact_email = TextField(max_length=254, required=False, allow_blank=True)
    contact_phone = TextField(max_length=30, required=False, allow_blank=True)


class MemberContactBodySerializer(MemberContactSerializer):
    """MemberContactSerializer as the view reads it: member_contact_change judges the lengths (`too_long`,
    naming each field), which the fields refused first as `validation_error`."""

    contact_name = TextField(required=False, allow_blank=True)
    contact_email = TextField(required=False, allow_blank=True)
    contact_phone = TextField(required=False, allow_blank=True)


class ReasonSerializer(serializers.Serializer):
    reason = FreeTextField(max_length=2000, required=False, default="", allow_blank=True)


# The schema's body for a transition whose service requires a reason. The views still read the body with
# their lenient serializer, so a missing reason is the service's 400 `reason_required`, after who may act.
class RequiredReasonSerializer(serializers.Serializer):
    """Why: it is recorded with the change and in its ledger entry; without one: 400 `reason_required`."""

    reason = FreeTextField(max_length=2000)


class _StatusReadSerializer(serializers.Serializer):
    status_changed_at = serializers.DateTimeField(
        required=False,
        default=None,
        allow_null=True,
        help_text="The member's `status_changed_at` as you read it. If its status changed since (another "
        "officer decided, or a declined firm applied again with new details): 409 `status_changed` and "
        "nothing is done. Send it, so that you decide on what you read.",
    )


class MemberDecisionSerializer(_StatusReadSerializer, ReasonSerializer):
    """A lifecycle decision on a member: why, and the status it was decided on."""


# The schema's body for a decision whose service requires a reason; the view reads MemberDecisionSerializer,
# so a missing reason is the service's 400 `reason_required`, after who may decide.
class MemberDecisionWithReasonSerializer(_StatusReadSerializer, RequiredReasonSerializer):
    """A lifecycle decision on a member that needs a reason: why (recorded in the member's history and the
    decision's ledger entry; without one: 400 `reason_required`), and the status it was decided on."""


def reason_request(
    service: Callable[..., Any],
    optional: type[serializers.Serializer],
    required: type[serializers.Serializer] = RequiredReasonSerializer,
) -> type[serializers.Serializer]:
    """The body the schema shows for a transition `service` that takes a `reason`: `required` where the
    service's signature gives the reason no default (it refuses a missing one), else `optional`."""
    needs_reason = inspect.signature(service).parameters["reason"].default is inspect.Parameter.empty
    return required if needs_reason else optional


class MemberStatusChangeSerializer(serializers.ModelSerializer):
    actor: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    # Declared: a read-only model field loses allow_blank, and the first step (the application) has none.
    from_status = serializers.ChoiceField(
        choices=MemberStatus.choices, allow_blank=True, read_only=True, help_text="Empty for the application."
    )

    class Meta:
        model = MemberStatusChange
        fields = ["from_status", "to_status", "actor", "reason", "at"]
        read_only_fields = fields


KEY_ROLE_RULE = (
    "With an API key, only a role whose powers the key's scopes cover (403 `role_beyond_key_scopes`): "
    "analyst needs `request`, data_steward `request` and `manage`; no key gives member_admin, nor changes "
    "or deactivates a member admin."
)


class UserSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    # A plain string, not format "email": an API key's system user has none, and "" is no e-mail address.
    email = serializers.CharField(read_only=True, help_text="Empty for an API key's system user.")

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "member",
            "role",
            "is_active",
            "date_joined",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_role(self, user: User) -> str:
        return user.member_role or user.consortium_role


# The view reads the body with UserCreateBodySerializer.
class UserCreateSerializer(serializers.Serializer):
    """A new person. `member` defaults to the actor's own member; only officers may name another. The
    username, e-mail and role are required: those missing or blank are refused together, 400 `required`
    with `errors` naming each; text longer than its field's maximum length is refused likewise, 400
    `too_long`."""

    member = IdField(required=False, help_text="Member id; defaults to your own member.")
    username = TextField(max_length=150)
    email = TextField(max_length=254)
    role = ServiceChoiceField(choices=sorted(PERSON_ROLES), help_text=KEY_ROLE_RULE)
    password = TextField(
        required=False,
        allow_null=True,
        write_only=True,
        style={"input_type": "password"},
        default=None,
        help_text=(
            "An initial password; without one the person has no usable password. A portal session (a member "
            "admin) only: with an API key a password is refused (400 `password_not_allowed`), since whoever "
            "sets it could log in as the person."
        ),
    )
    first_name = TextField(max_length=150, required=False, default="", allow_blank=True)
    last_name = TextField(max_length=150, required=False, default="", allow_blank=True)


class UserCreateBodySerializer(UserCreateSerializer):
    """UserCreateSerializer as the view reads it: user_create judges a missing or blank username, e-mail
    or role (`required`, naming each field) and text too long for its column (`too_long`, naming each)."""

    username = required_by_service()
    email = required_by_service()
    first_name = TextField(required=False, default="", allow_blank=True)
    last_name = TextField(required=False, default="", allow_blank=True)
    role = ServiceChoiceField(choices=sorted(PERSON_ROLES), required=False, default="", allow_blank=True)


class UserRoleSerializer(OnlyTheseFields):
    """A person's new role. Only the role changes here: any other field (the username, names, e-mail,
    password, whether the person is active) is refused, 400 naming each, and nothing changes; a body
    without a role changes nothing."""

    # Ignoring the other fields (DRF's default) let a client believe it had changed a password, an address
    # or whether the person is active. The role is not required (a PATCH, as the schema says): requiring it
    # answered a body naming only another field with 'role: This field is required.' instead of naming
    # that field.
    other_fields_refusal = "Only the role can be changed here."

    role = ServiceChoiceField(choices=sorted(PERSON_ROLES), required=False, help_text=KEY_ROLE_RULE)


class APIKeySerializer(serializers.ModelSerializer):
    """A key's metadata. Never the key itself: only its creation response carries that, once."""

    expires_at = serializers.DateTimeField(source="expiry_date", read_only=True)
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    revoked_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=APIKeyScope.choices), read_only=True)

    class Meta:
        model = MemberAPIKey
        fields = [
            "prefix",
            "name",
            "member",
            "scopes",
            "created",
            "created_by",
            "expires_at",
            "revoked",
            "revoked_at",
            "revoked_by",
            "last_used_at",
        ]
        read_only_fields = fields


# A new key's body as the schema shows it; the view reads APIKeyCreateBodySerializer.
class APIKeyCreateSerializer(serializers.Serializer):
    name = TextField(
        max_length=50, help_text="Missing or blank: 400 `required`; longer than 50: 400 `invalid`."
    )
    # The service refuses an unknown scope or none (`invalid_scopes`), a time without a zone or out of
    # range (`invalid_expiry`).
    scopes = serializers.ListField(child=ServiceChoiceField(choices=APIKeyScope.choices))
    expires_at = ZonedDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="With a time zone or offset; at most a year ahead; default 90 days.",
    )


class APIKeyCreateBodySerializer(APIKeyCreateSerializer):
    """APIKeyCreateSerializer as the view reads it: the name is passed on as sent (trimmed), for the service
    to refuse a missing or blank one (`required`) or one too long (`invalid`), naming `name` in `errors`.
    The field refused both first, as `validation_error`."""

    name = required_by_service()


class APIKeyCreatedSerializer(APIKeySerializer):
    """A new key's metadata and, in `key`, the key itself: shown in this response only, as only its hash
    is stored."""

    key = serializers.SerializerMethodField(
        help_text="The key itself: shown in this response only, never again."
    )

    class Meta(APIKeySerializer.Meta):
        fields = [*APIKeySerializer.Meta.fields, "key"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_key(self, key: MemberAPIKey) -> str:
        return self.context["raw_key"]


class MeSerializer(serializers.Serializer):
    user = UserSerializer()
    member = MemberSerializer(allow_null=True)
    role = serializers.CharField()
    capabilities = serializers.ListField(child=serializers.CharField())
    api_key = APIKeySerializer(allow_null=True)
